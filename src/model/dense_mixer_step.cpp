#include "dense_mixer_step.h"

#include "mixer_step_kernels.h"
#include "nn/rms_norm_row.h"
#include "nn/row_shares.h"
#include "nn/streaming_gemv.h"

#include <omp.h>

#include <algorithm>
#include <memory>

namespace structseq::model_detail {

namespace {

// The step's intermediate vectors: xz (2 d_inner), xc, delta, y (d_inner), x_dbl (dt_rank +
// 2 d_state), and each thread's copy of h (d_model).
struct StepBuffers {
    float *xz, *xc, *delta, *y, *x_dbl, *h;
};

// out_proj blocks (about 64 KiB each) a thread prefetches during its scan step: mamba-130m's
// scan of 768 channels takes about 10 µs, in which one thread streams some 250 KB.
constexpr std::int64_t kEarlyBlocks = 4;

// in_proj's z rows and out_proj's rows, shared out as they stream (nn/row_shares.h).
struct StepShares {
    RowShares& z_rows;
    RowShares& out_rows;
};

// Thread `part` of `parts`; the barriers bind to the caller's parallel region.
template <class Weight>
void step_part(const DenseMixerStep<Weight>& s, float* x, const StepBuffers& b,
               const StepShares& shares, int part, int parts) {
    const std::int64_t di = s.d_inner, dm = s.d_model, n = s.d_state, r = s.dt_rank;
    const std::int64_t R = r + 2 * n, blocks = (di + 15) / 16;
    const std::int64_t c0 = std::min(di, 16 * (blocks * part / parts));
    const std::int64_t c1 = std::min(di, 16 * (blocks * (part + 1) / parts));
    float* h = b.h + part * dm;
    nn_detail::rms_norm_row(x, s.norm_weight, h, dm, s.norm_eps);
    const float in_beta = s.in_bias != nullptr ? 1.0f : 0.0f;
    const auto in_proj_rows = [&](std::int64_t first, std::int64_t last) {
        if (s.in_bias != nullptr) std::copy(s.in_bias + first, s.in_bias + last, b.xz + first);
        streaming_gemv_rows(s.in_proj, h, b.xz, first, last, dm, in_beta);
    };
    in_proj_rows(c0, c1);  // the block's x rows, which its convolution needs at once
    conv_silu_step(s.window, b.xz, s.conv_weight, s.conv_bias, b.xc, s.d_conv, c0, c1);
    for (RowShares::Rows z = shares.z_rows.next(part); !z.empty(); z = shares.z_rows.next(part)) {
        in_proj_rows(z.first, z.last);
    }
#pragma omp barrier
    // [δ, B, C] = W_x xc, this part's rows: one stream of whole rows (each thread's half of
    // every row, which needs no barrier before it, read markedly slower).
    streaming_gemv_rows(s.x_proj, b.xc, b.x_dbl, R * part / parts, R * (part + 1) / parts, di,
                        0.0f);
#pragma omp barrier
    const float* x_dbl = b.x_dbl;
    std::copy(s.dt_bias + c0, s.dt_bias + c1, b.delta + c0);
    streaming_gemv_rows(s.dt_proj, x_dbl, b.delta, c0, c1, r, 1.0f);
    ScanStepOperands op{n,         s.bilinear,    s.A, b.delta, b.xc, b.xz + di,
                        x_dbl + r, x_dbl + r + n, s.D, s.state, b.y};
    // The first blocks of this thread's share of out_proj, claimed now and brought into the
    // cache while the scan computes, so that memory keeps streaming through it.
    const RowShares::Rows early = shares.out_rows.next(part, kEarlyBlocks);
    op.warm = reinterpret_cast<const char*>(s.out_proj + early.first * di);
    op.warm_lines = (early.last - early.first) * di * std::int64_t{sizeof(Weight)} / 64;
    scan_step(op, c0, c1);
#pragma omp barrier
    for (RowShares::Rows o = early; !o.empty(); o = shares.out_rows.next(part)) {
        streaming_gemv_rows(s.out_proj, b.y, x, o.first, o.last, di, 1.0f);
        if (s.out_bias != nullptr) {
            for (std::int64_t k = o.first; k < o.last; ++k) x[k] += s.out_bias[k];
        }
    }
}

template <class Weight>
void run_step(const DenseMixerStep<Weight>& s, float* x) {
    const std::int64_t di = s.d_inner, dm = s.d_model, R = s.dt_rank + 2 * s.d_state;
    const int threads = streaming_threads(2 * di * dm);  // as for in_proj alone
    const auto scratch = std::make_unique_for_overwrite<float[]>(
        static_cast<std::size_t>(5 * di + R + threads * dm));
    float* p = scratch.get();
    const StepBuffers b{p, p + 2 * di, p + 3 * di, p + 4 * di, p + 5 * di, p + 5 * di + R};
    constexpr auto weight_bytes = static_cast<std::int64_t>(sizeof(Weight));
    RowShares z_rows(di, 2 * di, threads, RowShares::block_rows(dm * weight_bytes));
    RowShares out_rows(0, dm, threads, RowShares::block_rows(di * weight_bytes));
    const StepShares shares{z_rows, out_rows};
#pragma omp parallel num_threads(threads) if (threads > 1)
    step_part(s, x, b, shares, omp_get_thread_num(), omp_get_num_threads());
}

}  // namespace

void dense_mixer_step(const DenseMixerStep<float>& step, float* x) {
    run_step(step, x);
}

void dense_mixer_step(const DenseMixerStep<std::uint16_t>& step, float* x) {
    run_step(step, x);
}

}  // namespace structseq::model_detail
