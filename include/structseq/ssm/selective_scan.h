#pragma once
// The selective scan of Mamba (Gu & Dao 2023), with the semantics, shapes and argument order of
// mamba_ssm's selective_scan_ref. For every batch b and channel d, with state x ∈ R^N (x = 0 at
// the start), over t = 0 … L−1:
//   Δ_t = δ[b, d, t] (+ delta_bias[d]), then softplus(Δ_t) when delta_softplus
//   zoh:      Ā = exp(Δ_t A[d]),                 B̄u = Δ_t B_t u_t
//   bilinear: Ā = (1 + Δ_t A/2) / (1 − Δ_t A/2),  B̄u = Δ_t B_t u_t / (1 − Δ_t A/2)
//   x_t = Ā ⊙ x_{t−1} + B̄u,   y_t = C_t · x_t + D[d] u_t,   out = y ⊙ silu(z) when z is given.
// Shapes: u, delta, z (batch, dim, L); A (dim, N) real; B and C each (dim, N), input-dependent
// (batch, N, L) or grouped (batch, G, N, L) with dim divisible by G (channel d uses group
// d / (dim/G)); D and delta_bias (dim,). Undefined tensors stand for the optional arguments.
// Output (batch, dim, L) in u's precision; last_state (batch, dim, N) when asked.
//
// use_parallel_scan splits time into chunks (≥ 256 steps, up to four per thread) for long L with
// few channels: each chunk runs from a zero state, giving its end state and Π Ā; a pass over
// the chunks gives the state entering each; each chunk then runs again from it (twice the work,
// spread over the threads). It applies to the float64 path; float32 operands with
// input-dependent B and C take the float32 kernel (selective_scan_float32.h), faster even on one
// thread. The backward is sequential in time (threads over channels).
//
// float32 operands with input-dependent, ungrouped B and C run in float32 through the time-major
// kernel (selective_scan_time_major.h); everything else is computed in float64. Fused: nothing
// of size (batch, dim, L, N) is formed. Threads over
// (batch, channel) pairs, the state dimension in vector lanes. The backward recomputes the states
// from checkpoints every 64 steps (O(batch·dim·N·L/64) memory) and runs the adjoint recursion
//   g_t = C_t dy_t + Ā_{t+1} ⊙ g_{t+1},  dΔ_t = Σ_n g_{t,n} (∂Ā/∂Δ x_{t−1,n} + ∂B̄u/∂Δ), …
// backwards in time; gradients summed over the dimensions their input does not have.

#include "structseq/core/tensor.h"

#include <string_view>

namespace structseq {

struct SelectiveScanResult {
    Tensor out;         // (batch, dim, L)
    Tensor last_state;  // (batch, dim, N), when return_last_state
    // When return_checkpoints and the operands take the float32 kernel: the states before steps
    // 0, 64, 128, … (batch, ⌈L/64⌉, N, dim) float32, for selective_scan_backward to start from
    // instead of running the forward again. Undefined otherwise.
    Tensor checkpoints;
};

SelectiveScanResult selective_scan(const Tensor& u, const Tensor& delta, const Tensor& A,
                                   const Tensor& B, const Tensor& C, const Tensor& D = Tensor(),
                                   const Tensor& z = Tensor(), const Tensor& delta_bias = Tensor(),
                                   bool delta_softplus = false, bool return_last_state = false,
                                   std::string_view discretization = "zoh",
                                   bool use_parallel_scan = false, bool return_checkpoints = false);

struct SelectiveScanGradients {
    Tensor du, ddelta, dA, dB, dC;
    Tensor dD, dz, ddelta_bias;  // undefined when the input was not given
};

// `checkpoints`: selective_scan's, from the same operands with return_checkpoints, or undefined
// to recompute them (a forward pass). Given for operands that take the float64 path, which keeps
// none, or of the wrong shape, it is an error.
SelectiveScanGradients selective_scan_backward(
    const Tensor& dout, const Tensor& u, const Tensor& delta, const Tensor& A, const Tensor& B,
    const Tensor& C, const Tensor& D = Tensor(), const Tensor& z = Tensor(),
    const Tensor& delta_bias = Tensor(), bool delta_softplus = false,
    std::string_view discretization = "zoh", const Tensor& checkpoints = Tensor());

}  // namespace structseq
