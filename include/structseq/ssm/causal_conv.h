#pragma once
// Causal convolution along time, channel by channel:
//   y[b, t, h] = Σ_{s ≤ min(t, Lk−1)} K[s, h] · u[b, t − s, h]
// u (B, L, H); K (Lk, H), or (Lk,) shared by every channel; y (B, L, H) in u's dtype.
// method "direct" (O(B H L Lk)), "fft" (zero-padded to a power of two ≥ L + Lk − 1,
// O(B H L log L)) or "auto" (FFT, except direct for fewer than 8 channels up to L ≈ 2048:
// the crossover measured in docs/ssm.md). Direct
// accumulates in float64; FFT transforms in the inputs' precision (float32 when both are).
//
// Backward, for a loss ℓ with dy = ∂ℓ/∂y:
//   du[b, s, h] = Σ_{t ≥ s} K[t − s, h] dy[b, t, h]     (a causal convolution of the
//                                                         time-reversed dy, reversed back)
//   dK[s, h]    = Σ_b Σ_t dy[b, t, h] u[b, t − s, h]      (summed over h too for a shared K)

#include "structseq/core/tensor.h"

#include <string_view>

namespace structseq {

Tensor causal_conv(const Tensor& u, const Tensor& K, std::string_view method = "auto");

struct CausalConvGradients {
    Tensor du;
    Tensor dK;
};

CausalConvGradients causal_conv_backward(const Tensor& dy, const Tensor& u, const Tensor& K,
                                         std::string_view method = "auto");

}  // namespace structseq
