#include "ssm/selective_scan_float32.h"

#include "linalg/small_matrix.h"
#include "structseq/core/threads.h"
#include "structseq/ssm/selective_scan_time_major.h"

#include <algorithm>
#include <initializer_list>
#include <utility>

namespace structseq::ssm_detail {

namespace {

// (batch, R, C) float32 → (batch, C, R), sixteen source rows at a time (linalg_detail::transpose
// writes each output row a whole 64-byte line per pass while the sixteen rows stream side by side).
Tensor swap_last_axes(const Tensor& x_in) {
    const Tensor x = x_in.contiguous();
    const std::int64_t batch = x.dim(0), R = x.dim(1), C = x.dim(2);
    Tensor out = Tensor::empty({batch, C, R}, DType::F32);
    const float* src = x.data<float>();
    float* dst = out.data<float>();
    constexpr std::int64_t kRows = 16;
    const std::int64_t row_blocks = (R + kRows - 1) / kRows;
#pragma omp parallel for num_threads(num_threads()) schedule(static) if (batch * R * C > 65536)
    for (std::int64_t task = 0; task < batch * row_blocks; ++task) {
        const std::int64_t b = task / row_blocks, r0 = (task % row_blocks) * kRows;
        linalg_detail::transpose(src + (b * R + r0) * C, std::min(kRows, R - r0), C, C,
                                 dst + b * R * C + r0, R);
    }
    return out;
}

// (batch, N, L) → (batch·L, N) rows of B or C, and back.
Tensor to_rows(const Tensor& x) {
    return swap_last_axes(x).reshape({x.dim(0) * x.dim(2), x.dim(1)});
}
Tensor from_rows(const Tensor& rows, std::int64_t batch) {
    return swap_last_axes(rows.reshape({batch, rows.dim(0) / batch, rows.dim(1)}));
}

// B or C input-dependent and ungrouped: (batch, N, L) or (batch, 1, N, L) → (batch, N, L).
std::optional<Tensor> ungrouped_selector(const Tensor& X, std::int64_t batch, std::int64_t N,
                                         std::int64_t L) {
    if (X.rank() == 3 && X.shape() == Shape{batch, N, L}) return X;
    if (X.rank() == 4 && X.shape() == Shape{batch, 1, N, L}) return X.reshape({batch, N, L});
    return std::nullopt;
}

// The operands as the channel-major kernel's inputs when they qualify (B and C as (batch·L, N)
// rows, the rest as given).
std::optional<TimeMajorScanInputs> channel_major_inputs(const Tensor& u, const Tensor& delta,
                                                        const Tensor& A, const Tensor& B,
                                                        const Tensor& C, const Tensor& D,
                                                        const Tensor& z, const Tensor& delta_bias,
                                                        bool delta_softplus,
                                                        std::string_view discretization) {
    for (const Tensor* t : {&u, &delta, &A, &B, &C}) {
        if (!t->defined() || t->dtype() != DType::F32) return std::nullopt;
    }
    for (const Tensor* t : {&D, &z, &delta_bias}) {
        if (t->defined() && t->dtype() != DType::F32) return std::nullopt;
    }
    if (u.rank() != 3 || delta.shape() != u.shape() || A.rank() != 2 || A.dim(0) != u.dim(1) ||
        (z.defined() && z.shape() != u.shape()) ||
        (discretization != "zoh" && discretization != "bilinear")) {
        return std::nullopt;
    }
    const std::int64_t batch = u.dim(0), dim = u.dim(1), L = u.dim(2), N = A.dim(1);
    for (const Tensor* t : {&D, &delta_bias}) {
        if (t->defined() && t->shape() != Shape{dim}) return std::nullopt;
    }
    const std::optional<Tensor> b = ungrouped_selector(B, batch, N, L);
    const std::optional<Tensor> c = ungrouped_selector(C, batch, N, L);
    if (!b || !c || batch * L == 0) return std::nullopt;
    TimeMajorScanInputs in;
    in.batch = batch;
    in.u = u;
    in.delta = delta;
    in.A = A;
    in.B = to_rows(*b);
    in.C = to_rows(*c);
    in.D = D;
    in.z = z;
    in.delta_bias = delta_bias;
    in.delta_softplus = delta_softplus;
    in.discretization = discretization;
    return in;
}

}  // namespace

std::optional<SelectiveScanResult> selective_scan_float32(
    const Tensor& u, const Tensor& delta, const Tensor& A, const Tensor& B, const Tensor& C,
    const Tensor& D, const Tensor& z, const Tensor& delta_bias, bool delta_softplus,
    std::string_view discretization, bool keep_checkpoints) {
    const std::optional<TimeMajorScanInputs> in =
        channel_major_inputs(u, delta, A, B, C, D, z, delta_bias, delta_softplus, discretization);
    if (!in) return std::nullopt;
    TimeMajorScanResult r = selective_scan_channel_major(*in, keep_checkpoints);
    SelectiveScanResult result;
    result.out = std::move(r.out);
    result.checkpoints = std::move(r.checkpoints);
    return result;
}

std::optional<SelectiveScanGradients> selective_scan_backward_float32(
    const Tensor& dout, const Tensor& u, const Tensor& delta, const Tensor& A, const Tensor& B,
    const Tensor& C, const Tensor& D, const Tensor& z, const Tensor& delta_bias,
    bool delta_softplus, std::string_view discretization, const Tensor& checkpoints) {
    if (dout.dtype() != DType::F32 || dout.shape() != u.shape()) return std::nullopt;
    const std::optional<TimeMajorScanInputs> in =
        channel_major_inputs(u, delta, A, B, C, D, z, delta_bias, delta_softplus, discretization);
    if (!in) return std::nullopt;
    SelectiveScanGradients g = selective_scan_channel_major_backward(*in, dout, checkpoints);
    const std::int64_t batch = u.dim(0);
    g.dB = from_rows(g.dB, batch).reshape(B.shape());
    g.dC = from_rows(g.dC, batch).reshape(C.shape());
    return g;
}

}  // namespace structseq::ssm_detail
