#pragma once
// The selective scan of selective_scan.h over time-major rows, the layout of a model's
// activations: row b·L + t holds position t of sequence b. For every sequence b and channel d,
// with state x ∈ R^N (zero at the start), over t = 0 … L−1 (M = batch·L rows):
//   Δ = δ[row, d] (+ delta_bias[d]), then softplus(Δ) when delta_softplus
//   x ← Ā(Δ A[d]) ⊙ x + B̄u(Δ, A[d]) ⊙ B[row] u[row, d]     (zoh or bilinear, as selective_scan)
//   y[row, d] = C[row] · x + D[d] u[row, d],   out = y · silu(z[row, d]) when z is given.
// Shapes: u, delta, z (M, dim); B, C (M, N) (one B_t and C_t per position, shared by the
// channels, as in Mamba's mixer); A (dim, N); D and delta_bias (dim). Rows may be strided
// (column views of wider rows, unit column stride), so a projection's output is read in place.
//
// The channels sit in vector lanes (16 float32 or 8 float64 per vector) and the N states of a
// lane in registers, so a step is N vector exps and FMAs with B_t, C_t broadcast; nothing is
// transposed and nothing of size (M, dim, N) is formed. Computed in the inputs' precision
// (float32 or float64, all operands alike); threads over (sequence, block of channels). The
// backward recomputes each 64-step chunk's states from the checkpoint before it and runs the
// adjoint recursion of selective_scan.h backwards in time, chunk-major over a group of channel
// blocks so that a chunk's dB and dC lanes stay in cache; dB and dC sum over the channels in a
// fixed order for a given thread count.

#include "structseq/core/tensor.h"
#include "structseq/ssm/selective_scan.h"

#include <cstdint>
#include <string_view>

namespace structseq {

struct TimeMajorScanInputs {
    std::int64_t batch = 1;   // sequences; L = M / batch
    Tensor u, delta;          // (M, dim)
    Tensor A;                 // (dim, N)
    Tensor B, C;              // (M, N)
    Tensor D, z, delta_bias;  // (dim), (M, dim), (dim); undefined when absent
    bool delta_softplus = false;
    std::string_view discretization = "zoh";  // or "bilinear"
};

struct TimeMajorScanResult {
    Tensor out;          // (M, dim), contiguous, in u's dtype
    Tensor checkpoints;  // (batch, ⌈L/64⌉, N, dim): the states before steps 0, 64, 128, …
};

// With keep_checkpoints, also the states the backward starts from (saves it a forward pass).
TimeMajorScanResult selective_scan_time_major(const TimeMajorScanInputs& in,
                                              bool keep_checkpoints = false);

// Gradients shaped like their inputs (du, ddelta, dz (M, dim); dB, dC (M, N); dA (dim, N);
// dD, ddelta_bias (dim)); the optional ones only for inputs that were given. `checkpoints`
// from the forward pass, or undefined to recompute them.
SelectiveScanGradients selective_scan_time_major_backward(const TimeMajorScanInputs& in,
                                                          const Tensor& dout,
                                                          const Tensor& checkpoints = Tensor());

// The same forward and backward on operands laid out as selective_scan.h takes them: u, delta,
// z, the result, dout, du, ddelta and dz (batch, dim, L) (in.batch = u's first extent); B, C, dB
// and dC (M, N) rows, the rest as above. Each block's 64-step chunk is transposed into rows of
// vector lanes in L1, and its results back, so no (M, dim) copy of an operand is made; the
// results are those of the time-major kernel on the transposed operands, bit for bit.
TimeMajorScanResult selective_scan_channel_major(const TimeMajorScanInputs& in,
                                                 bool keep_checkpoints = false);
SelectiveScanGradients selective_scan_channel_major_backward(const TimeMajorScanInputs& in,
                                                             const Tensor& dout,
                                                             const Tensor& checkpoints = Tensor());

}  // namespace structseq
