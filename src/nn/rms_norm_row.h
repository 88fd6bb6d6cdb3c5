#pragma once
// One row of RMSNorm (structseq/nn/rms_norm.h) on raw pointers, for callers inside their own
// parallel regions: r = (mean(x²) + eps)^(-1/2) summed in float64, y = x · r · w (d values).

#include <cmath>
#include <cstdint>

namespace structseq::nn_detail {

template <class Real>
double inverse_rms(const Real* x, std::int64_t d, double eps) {
    double sum = 0;
#pragma omp simd reduction(+ : sum)
    for (std::int64_t j = 0; j < d; ++j) sum += static_cast<double>(x[j]) * x[j];
    return 1.0 / std::sqrt(sum / static_cast<double>(d) + eps);
}

template <class Real>
void rms_norm_row(const Real* x, const Real* w, Real* y, std::int64_t d, double eps) {
    const Real scale = static_cast<Real>(inverse_rms(x, d, eps));
#pragma omp simd
    for (std::int64_t j = 0; j < d; ++j) y[j] = x[j] * scale * w[j];
}

}  // namespace structseq::nn_detail
