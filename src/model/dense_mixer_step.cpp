#include "dense_mixer_step.h"

#include "mixer_step_kernels.h"
#include "nn/streaming_gemv.h"
#include "structseq/core/threads.h"

#include <omp.h>

#include <algorithm>
#include <vector>

namespace structseq::model_detail {

namespace {

// The step's intermediate vectors: xz (2 d_inner), xc, delta, y (d_inner), x_dbl (dt_rank +
// 2 d_state).
struct StepBuffers {
    float *xz, *xc, *delta, *y, *x_dbl;
};

// Thread `part` of `parts`; the barriers bind to the caller's parallel region.
template <class Weight>
void step_part(const DenseMixerStep<Weight>& s, const float* h, float* x, const StepBuffers& b,
               int part, int parts) {
    const std::int64_t di = s.d_inner, dm = s.d_model, n = s.d_state, r = s.dt_rank;
    const std::int64_t R = r + 2 * n, blocks = (di + 15) / 16;
    const std::int64_t c0 = std::min(di, 16 * (blocks * part / parts));
    const std::int64_t c1 = std::min(di, 16 * (blocks * (part + 1) / parts));
    for (const std::int64_t half : {std::int64_t{0}, di}) {  // the channels' x rows, then z rows
        if (s.in_bias != nullptr)
            std::copy(s.in_bias + half + c0, s.in_bias + half + c1, b.xz + half + c0);
        streaming_gemv_rows(s.in_proj, h, b.xz, half + c0, half + c1, dm,
                            s.in_bias != nullptr ? 1.0f : 0.0f);
    }
    conv_silu_step(s.window, b.xz, s.conv_weight, s.conv_bias, b.xc, s.d_conv, c0, c1);
#pragma omp barrier
    // [δ, B, C] = W_x xc, this part's rows: one stream of whole rows (each thread's half of
    // every row, which needs no barrier before it, read markedly slower).
    streaming_gemv_rows(s.x_proj, b.xc, b.x_dbl, R * part / parts, R * (part + 1) / parts, di,
                        0.0f);
#pragma omp barrier
    const float* x_dbl = b.x_dbl;
    std::copy(s.dt_bias + c0, s.dt_bias + c1, b.delta + c0);
    streaming_gemv_rows(s.dt_proj, x_dbl, b.delta, c0, c1, r, 1.0f);
    const ScanStepOperands op{n,         s.bilinear,    s.A, b.delta, b.xc, b.xz + di,
                              x_dbl + r, x_dbl + r + n, s.D, s.state, b.y};
    scan_step(op, c0, c1);
#pragma omp barrier
    const std::int64_t row0 = dm * part / parts, row1 = dm * (part + 1) / parts;
    streaming_gemv_rows(s.out_proj, b.y, x, row0, row1, di, 1.0f);
    if (s.out_bias != nullptr) {
        for (std::int64_t k = row0; k < row1; ++k) x[k] += s.out_bias[k];
    }
}

template <class Weight>
void run_step(const DenseMixerStep<Weight>& s, const float* h, float* x) {
    const std::int64_t di = s.d_inner, R = s.dt_rank + 2 * s.d_state;
    // As streaming_gemv: below 2^15 weights in in_proj a fork and join cost more than the step.
    const int threads = 2 * di * s.d_model < (std::int64_t{1} << 15) ? 1 : num_threads();
    std::vector<float> scratch(static_cast<std::size_t>(5 * di + R));
    float* p = scratch.data();
    const StepBuffers b{p, p + 2 * di, p + 3 * di, p + 4 * di, p + 5 * di};
#pragma omp parallel num_threads(threads) if (threads > 1)
    step_part(s, h, x, b, omp_get_thread_num(), omp_get_num_threads());
}

}  // namespace

void dense_mixer_step(const DenseMixerStep<float>& step, const float* h, float* x) {
    run_step(step, h, x);
}

void dense_mixer_step(const DenseMixerStep<std::uint16_t>& step, const float* h, float* x) {
    run_step(step, h, x);
}

}  // namespace structseq::model_detail
