#include "ssm/vandermonde.h"

#include "structseq/core/cpu_dispatch.h"
#include "structseq/core/lane_vector.h"

#include <algorithm>
#include <vector>

namespace structseq::ssm_detail {

namespace {

using Eight = LaneVector<double, 8>;
constexpr int kGroup = 4;

// Split-complex lanes; the imaginary parts are ignored (and zero) for real inputs.
template <bool Complex>
STRUCTSEQ_CPU_CLONES void sums_kernel(const double* lr, const double* li, const double* wr,
                                      const double* wi, std::int64_t n, std::int64_t count,
                                      double* out_re, double* out_im) {
    const std::int64_t blocks = (count + 7) / 8;
    std::fill_n(out_re, blocks * 8, 0.0);
    if constexpr (Complex) std::fill_n(out_im, blocks * 8, 0.0);
    for (std::int64_t i0 = 0; i0 < n; i0 += kGroup) {
        const int group = static_cast<int>(std::min<std::int64_t>(kGroup, n - i0));
        Eight pr[kGroup], pi[kGroup], sr[kGroup], si[kGroup];
        for (int g = 0; g < kGroup; ++g) {
            // Lanes w λ^k for k < 8 (the weight folded in), step λ^8; unused slots stay 0.
            const std::int64_t i = i0 + std::min(g, group - 1);
            double ar = g < group ? wr[i] : 0.0, ai = Complex && g < group ? wi[i] : 0.0;
            double xr = 1.0, xi = 0.0;  // λ^k
            for (int k = 0; k < 8; ++k) {
                pr[g][k] = ar * xr - ai * xi;
                pi[g][k] = ar * xi + ai * xr;
                const double nr = xr * lr[i] - (Complex ? xi * li[i] : 0.0);
                const double ni = Complex ? xr * li[i] + xi * lr[i] : 0.0;
                xr = nr;
                xi = ni;
            }
            sr[g] = Eight{} + xr;
            si[g] = Eight{} + xi;
        }
        for (std::int64_t b = 0; b < blocks; ++b) {
            Eight accr = load_lanes<Eight>(out_re + 8 * b);
            Eight acci = Complex ? load_lanes<Eight>(out_im + 8 * b) : Eight{};
            for (int g = 0; g < kGroup; ++g) {
                accr += pr[g];
                if constexpr (Complex) {
                    acci += pi[g];
                    const Eight nr = pr[g] * sr[g] - pi[g] * si[g];
                    pi[g] = pr[g] * si[g] + pi[g] * sr[g];
                    pr[g] = nr;
                } else {
                    pr[g] *= sr[g];
                }
            }
            store_lanes(out_re + 8 * b, accr);
            if constexpr (Complex) store_lanes(out_im + 8 * b, acci);
        }
    }
}

}  // namespace

void vandermonde_sums(const double* lambda, const double* w, std::int64_t n, std::int64_t count,
                      double* out) {
    sums_kernel<false>(lambda, nullptr, w, nullptr, n, count, out, nullptr);
}

void vandermonde_sums(const std::complex<double>* lambda, const std::complex<double>* w,
                      std::int64_t n, std::int64_t count, std::complex<double>* out) {
    std::vector<double> lr(static_cast<std::size_t>(n)), li(lr.size()), wr(lr.size()),
        wi(lr.size());
    for (std::int64_t i = 0; i < n; ++i) {
        lr[i] = lambda[i].real();
        li[i] = lambda[i].imag();
        wr[i] = w[i].real();
        wi[i] = w[i].imag();
    }
    const std::int64_t padded = (count + 7) / 8 * 8;
    std::vector<double> re(static_cast<std::size_t>(padded)), im(re.size());
    sums_kernel<true>(lr.data(), li.data(), wr.data(), wi.data(), n, count, re.data(), im.data());
    for (std::int64_t j = 0; j < count; ++j) out[j] = {re[j], im[j]};
}

}  // namespace structseq::ssm_detail
