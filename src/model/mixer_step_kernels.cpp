#include "mixer_step_kernels.h"

#include "nn/silu.h"
#include "ssm/lane_exp.h"
#include "structseq/core/cpu_dispatch.h"

#include <algorithm>
#include <cmath>

namespace structseq::model_detail {

namespace {

float silu(float x) {
    return x / (1.0f + std::exp(-x));
}

// softplus as PyTorch computes it (linear above 20).
float softplus(float x) {
    return x > 20.0f ? x : std::log1p(std::exp(x));
}

// d_conv = 4 unrolled (Mamba's), or read at run time.
template <int Taps>
STRUCTSEQ_ALWAYS_INLINE void conv_window_step(float* window, const float* x, const float* W,
                                              const float* bias, float* xc, std::int64_t taps,
                                              std::int64_t c0, std::int64_t c1) {
    const std::int64_t kc = Taps > 0 ? Taps : taps;
    for (std::int64_t c = c0; c < c1; ++c) {
        float* s = window + c * kc;
        for (std::int64_t k = 0; k + 1 < kc; ++k) s[k] = s[k + 1];
        s[kc - 1] = x[c];
        float acc = bias != nullptr ? bias[c] : 0.0f;
        for (std::int64_t k = 0; k < kc; ++k) acc += W[c * kc + k] * s[k];
        xc[c] = acc;
    }
}

STRUCTSEQ_CPU_CLONES
void conv_range(float* window, const float* x, const float* W, const float* bias, float* xc,
                std::int64_t taps, std::int64_t c0, std::int64_t c1) {
    if (taps == 4) {
        conv_window_step<4>(window, x, W, bias, xc, taps, c0, c1);
    } else {
        conv_window_step<0>(window, x, W, bias, xc, taps, c0, c1);
    }
}

// ZOH with N a multiple of 16: Δ and silu(z) sixteen channels at a time, then each channel's N
// states as 16-lane vectors.
STRUCTSEQ_CPU_CLONES
void zoh_step(const ScanStepOperands& op, std::int64_t c0, std::int64_t c1) {
    using ssm_detail::lane_exp;
    using ssm_detail::lane_softplus;
    using ssm_detail::Lanes16f;
    for (std::int64_t base = c0; base < c1; base += 16) {
        const std::int64_t count = std::min<std::int64_t>(16, c1 - base);
        alignas(64) float dt[16] = {}, gate[16] = {};
        std::copy_n(op.delta + base, count, dt);
        std::copy_n(op.z + base, count, gate);
        Lanes16f zv = load_lanes<Lanes16f>(gate);
        store_lanes(dt, lane_softplus(load_lanes<Lanes16f>(dt)));
        store_lanes(gate, zv * ssm_detail::lane_sigmoid(zv));
        for (std::int64_t k = 0; k < count; ++k) {
            const std::int64_t c = base + k;
            if (op.warm != nullptr) {
                const std::int64_t from = op.warm_lines * (c - c0) / (c1 - c0);
                const std::int64_t to = op.warm_lines * (c + 1 - c0) / (c1 - c0);
                for (std::int64_t line = from; line < to; ++line) {
                    __builtin_prefetch(op.warm + 64 * line, 0, 2);
                }
            }
            const float step = dt[k], gain = step * op.u[c];
            float* st = op.state + c * op.n;
            Lanes16f acc = {};
            for (std::int64_t j = 0; j < op.n; j += 16) {
                const Lanes16f decay = lane_exp(step * load_lanes<Lanes16f>(op.A + c * op.n + j));
                const Lanes16f x =
                    decay * load_lanes<Lanes16f>(st + j) + gain * load_lanes<Lanes16f>(op.Bt + j);
                store_lanes(st + j, x);
                acc += load_lanes<Lanes16f>(op.Ct + j) * x;
            }
            op.y[c] = (lane_sum(acc) + op.D[c] * op.u[c]) * gate[k];
        }
    }
}

void scalar_step(const ScanStepOperands& op, std::int64_t c0, std::int64_t c1) {
    for (std::int64_t c = c0; c < c1; ++c) {
        const float dt = softplus(op.delta[c]);
        const float u = op.u[c];
        float* s = op.state + c * op.n;
        float acc = 0.0f;
        for (std::int64_t j = 0; j < op.n; ++j) {
            const float q = dt * op.A[c * op.n + j];
            s[j] = op.bilinear ? (1 + q / 2) / (1 - q / 2) * s[j] + dt * op.Bt[j] * u / (1 - q / 2)
                               : std::exp(q) * s[j] + dt * op.Bt[j] * u;
            acc += op.Ct[j] * s[j];
        }
        op.y[c] = (acc + op.D[c] * u) * silu(op.z[c]);
    }
}

}  // namespace

void conv_silu_step(float* window, const float* x, const float* W, const float* bias, float* xc,
                    std::int64_t taps, std::int64_t c0, std::int64_t c1) {
    conv_range(window, x, W, bias, xc, taps, c0, c1);
    nn_detail::silu_forward(xc + c0, xc + c0, c1 - c0);
}

void scan_step(const ScanStepOperands& op, std::int64_t c0, std::int64_t c1) {
    if (!op.bilinear && op.n % 16 == 0) {
        zoh_step(op, c0, c1);
    } else {
        scalar_step(op, c0, c1);
    }
}

}  // namespace structseq::model_detail
