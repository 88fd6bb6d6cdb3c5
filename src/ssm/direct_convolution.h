#pragma once
// Direct causal convolution of float64 rows: y_j[t] = Σ_{s ≤ min(t, Lk−1)} k_{kernel_of[j]}[s]
// · x_j[t − s] for `rows` rows x_j of L values and kernel rows of Lk values. Blocks of 32
// outputs accumulate in registers over the taps, O(L · Lk) per row; threads over rows.

#include <cstdint>

namespace structseq::ssm_detail {

void direct_convolution(const double* x, std::int64_t rows, std::int64_t L, const double* k,
                        std::int64_t Lk, const std::int64_t* kernel_of, double* y);

// The same on the natural (B, L, H) layout, vectorized over 8 channels at a time with blocks of
// 4 outputs in registers (for H ≥ 8, where transposing to rows would cost more than it saves):
//   y[b, t, h] = Σ_{s < taps, s ≤ t} K[s, h] x[b, t − s, h]         (adjoint false)
//   y[b, t, h] = Σ_{s < taps, t + s < L} K[s, h] x[b, t + s, h]     (adjoint true)
// K (taps, H). Threads over (b, channel block).
void direct_convolution_channels(const double* x, std::int64_t batch, std::int64_t L,
                                 std::int64_t H, const double* K, std::int64_t taps, bool adjoint,
                                 double* y);

// dK[s, h] = Σ_b Σ_{t ≥ s} dy[b, t, h] x[b, t − s, h] for s < taps, on the (B, L, H) layout.
void direct_kernel_gradient_channels(const double* dy, const double* x, std::int64_t batch,
                                     std::int64_t L, std::int64_t H, std::int64_t taps, double* dK);

}  // namespace structseq::ssm_detail
