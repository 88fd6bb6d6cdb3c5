#pragma once
// Mamba's mixer (Gu & Dao 2023; mamba_ssm's Mamba module) as a forward/backward pair over
// h (batch·L, d_model) time-major rows, d_inner channels, state size N:
//   [x, z] = h W_inᵀ (+ b_in)                                  (M, 2 d_inner)
//   p = b_conv + causal depthwise conv_{d_conv}(x),  xc = silu(p)
//   [δ, B, C] = xc W_xᵀ                                         (M, dt_rank + 2N)
//   Δ = softplus(δ W_dtᵀ + b_dt),  A = −exp(A_log)
//   y = selective_scan(xc, Δ, A, B, C, D, z)      (ssm/selective_scan_time_major.h, in place)
//   out = y W_outᵀ (+ b_out)                                    (M, d_model)
// Backward runs the chain in reverse: linear_backward for the projections, the selective scan's
// exact backward, silu' and the convolution's transpose; dA_log = dA ⊙ A. float32 or float64
// (weights and h of one dtype).

#include "structseq/core/tensor.h"
#include "structseq/nn/projection.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace structseq {

// in_proj, x_proj and out_proj are Projections (nn/projection.h): dense as in Mamba, or
// block-sparse or low-rank (seed 002's selective parameterizations); a weight matrix assigned
// to one is a dense projection.
struct MambaMixerWeights {
    Projection in_proj;             // 2 d_inner × d_model
    Tensor in_proj_bias;            // (2 d_inner) or undefined
    Tensor conv_weight, conv_bias;  // (d_inner, d_conv); bias (d_inner) or undefined
    Projection x_proj;              // (dt_rank + 2 d_state) × d_inner
    Tensor dt_proj, dt_proj_bias;   // (d_inner, dt_rank), (d_inner)
    Tensor A_log;                   // (d_inner, d_state)
    Tensor D;                       // (d_inner)
    Projection out_proj;            // d_model × d_inner
    Tensor out_proj_bias;           // (d_model) or undefined

    // Zero tensors shaped like these weights (undefined where a weight is), for gradients.
    MambaMixerWeights zeros_like() const;
};

// What backward needs from forward.
struct MambaMixerSaved {
    std::int64_t batch = 0, length = 0;
    std::string discretization;
    Tensor h, xz, pre, xc, x_dbl, dt_low;  // time-major (M, ·)
    Tensor delta;                          // (M, d_inner), Δ before bias and softplus
    Tensor A;                              // (d_inner, d_state)
    Tensor y;                              // (M, d_inner), the scan's output
    Tensor checkpoints;                    // the scan's states every 64 steps
};

// h (batch·length, d_model) → (batch·length, d_model); fills `saved` when given.
// discretization of A: "zoh" (Mamba's) or "bilinear" (selective_scan.h).
Tensor mamba_mixer_forward(const MambaMixerWeights& w, const Tensor& h, std::int64_t batch,
                           std::int64_t length, MambaMixerSaved* saved = nullptr,
                           std::string_view discretization = "zoh");

// Returns dh; adds the weights' gradients into `grads` (shaped by zeros_like()).
Tensor mamba_mixer_backward(const MambaMixerWeights& w, const MambaMixerSaved& saved,
                            const Tensor& dout, MambaMixerWeights& grads);

}  // namespace structseq
