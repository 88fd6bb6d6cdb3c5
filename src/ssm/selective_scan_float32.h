#pragma once
// selective_scan (selective_scan.h) on float32 operands with input-dependent, ungrouped B and C
// — Mamba's case — runs in float32 through the time-major kernel
// (selective_scan_time_major.h, channels in vector lanes), forward and backward reading u,
// delta, z and dout in place and writing du, ddelta, dz in place (selective_scan_channel_major);
// only B and C (and dB, dC) are transposed, to and from (batch·L, N) rows. Anything else (float64,
// mixed dtypes, fixed or grouped B or C, a last state asked for) returns nullopt and takes the
// float64 path, which also checks the arguments and names what is wrong.

#include "structseq/core/tensor.h"
#include "structseq/ssm/selective_scan.h"

#include <optional>
#include <string_view>

namespace structseq::ssm_detail {

// out, and the checkpoints when keep_checkpoints.
std::optional<SelectiveScanResult> selective_scan_float32(
    const Tensor& u, const Tensor& delta, const Tensor& A, const Tensor& B, const Tensor& C,
    const Tensor& D, const Tensor& z, const Tensor& delta_bias, bool delta_softplus,
    std::string_view discretization, bool keep_checkpoints);

// From `checkpoints` (selective_scan_float32's) when defined, else recomputing them.
std::optional<SelectiveScanGradients> selective_scan_backward_float32(
    const Tensor& dout, const Tensor& u, const Tensor& delta, const Tensor& A, const Tensor& B,
    const Tensor& C, const Tensor& D, const Tensor& z, const Tensor& delta_bias,
    bool delta_softplus, std::string_view discretization, const Tensor& checkpoints);

}  // namespace structseq::ssm_detail
