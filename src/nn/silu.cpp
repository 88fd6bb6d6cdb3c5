#include "nn/silu.h"

#include "ssm/lane_exp.h"
#include "structseq/core/cpu_dispatch.h"

#include <cmath>

namespace structseq::nn_detail {

namespace {

using ssm_detail::lane_sigmoid;

template <class Real>
using Vec = LaneVector<Real, 64 / static_cast<int>(sizeof(Real))>;

template <class Real>
Real sigmoid(Real p) {
    return Real(1) / (Real(1) + std::exp(-p));
}

template <class Real>
STRUCTSEQ_ALWAYS_INLINE void forward(const Real* p, Real* out, std::int64_t n) {
    constexpr std::int64_t W = 64 / sizeof(Real);
    std::int64_t i = 0;
    for (; i + W <= n; i += W) {
        const Vec<Real> v = load_lanes<Vec<Real>>(p + i);
        store_lanes(out + i, v * lane_sigmoid(v));
    }
    for (; i < n; ++i) out[i] = p[i] * sigmoid(p[i]);
}

template <class Real>
STRUCTSEQ_ALWAYS_INLINE void backward(const Real* p, const Real* g, Real* dp, std::int64_t n) {
    constexpr std::int64_t W = 64 / sizeof(Real);
    std::int64_t i = 0;
    for (; i + W <= n; i += W) {
        const Vec<Real> v = load_lanes<Vec<Real>>(p + i), s = lane_sigmoid(v);
        store_lanes(dp + i, load_lanes<Vec<Real>>(g + i) * s * (1 + v * (1 - s)));
    }
    for (; i < n; ++i) {
        const Real s = sigmoid(p[i]);
        dp[i] = g[i] * s * (Real(1) + p[i] * (Real(1) - s));
    }
}

}  // namespace

STRUCTSEQ_CPU_CLONES void silu_forward(const float* p, float* out, std::int64_t n) {
    forward(p, out, n);
}
STRUCTSEQ_CPU_CLONES void silu_forward(const double* p, double* out, std::int64_t n) {
    forward(p, out, n);
}
STRUCTSEQ_CPU_CLONES void silu_backward(const float* p, const float* g, float* dp, std::int64_t n) {
    backward(p, g, dp, n);
}
STRUCTSEQ_CPU_CLONES void silu_backward(const double* p, const double* g, double* dp,
                                        std::int64_t n) {
    backward(p, g, dp, n);
}

}  // namespace structseq::nn_detail
