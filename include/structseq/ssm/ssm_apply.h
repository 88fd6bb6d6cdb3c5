#pragma once
// Runs a discrete SISO SSM over every channel of u (B, L, H):
//   x_{k+1} = A x_k + B u_k,  y_k = C x_k + D u_k,  x_0 = 0,  y (B, L, H).
// One SSM for all channels — A (n, n) or (n,), B (n, 1) or (n,), C (1, n) or (n,), D one
// value — or one per channel with a leading H: A (H, n, n) or (H, n), B (H, n, 1) or (H, n),
// C (H, 1, n) or (H, n), D (H,) or (H, 1, 1). A rank-3 B, or a rank-2 B that is not (n, 1),
// means per-channel parameters. With dt, (A, B) are continuous-time and discretized by ZOH.
// method:
//   recurrent    the state recursion, all (batch, channel) columns of a shared SSM at once
//                (one n × n by n × BH product per step); O(B H L n²)
//   conv_direct  kernel (ssm_kernel, L taps) then direct causal convolution; O(B H L²)
//   conv_fft     kernel then FFT convolution; O(B H L log L)
// Real systems only; computed in float64, returned in u's precision.

#include "structseq/core/tensor.h"

#include <optional>
#include <string_view>

namespace structseq {

Tensor ssm_apply(const Tensor& A, const Tensor& B, const Tensor& C, const Tensor& D,
                 const Tensor& u, std::optional<double> dt = std::nullopt,
                 std::string_view method = "recurrent");

}  // namespace structseq
