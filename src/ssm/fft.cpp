#include "ssm/fft.h"

#include "structseq/core/cpu_dispatch.h"

#include <cmath>
#include <numbers>
#include <utility>

namespace structseq::ssm_detail {

std::int64_t next_power_of_two(std::int64_t n) {
    std::int64_t p = 1;
    while (p < n) p *= 2;
    return p;
}

ColumnFft::ColumnFft(std::int64_t n) : n_(n), cos_(static_cast<std::size_t>(n / 2)), sin_(cos_) {
    for (std::int64_t k = 0; k < n / 2; ++k) {
        const double angle = 2 * std::numbers::pi * static_cast<double>(k) / static_cast<double>(n);
        cos_[static_cast<std::size_t>(k)] = std::cos(angle);
        sin_[static_cast<std::size_t>(k)] = std::sin(angle);
    }
}

namespace {

// One Stockham stage: sequences of length `len` at stride `s` (in elements of `columns`):
//   y[q + s(2p)]   = x[q + s p] + x[q + s(p + m)]
//   y[q + s(2p+1)] = (x[q + s p] − x[q + s(p + m)]) · w^p,   m = len/2, w = e^{∓2πi/len}
// with the (q, column) pairs contiguous: block = s · columns values per p.
STRUCTSEQ_CPU_CLONES
void stage(const double* xr, const double* xi, double* yr, double* yi, std::int64_t len,
           std::int64_t block, std::int64_t twiddle_step, const double* cos_table,
           const double* sin_table, double sign) {
    const std::int64_t m = len / 2;
    for (std::int64_t p = 0; p < m; ++p) {
        const double wr = cos_table[p * twiddle_step];
        const double wi = sign * sin_table[p * twiddle_step];
        const double* ar = xr + p * block;
        const double* ai = xi + p * block;
        const double* br = xr + (p + m) * block;
        const double* bi = xi + (p + m) * block;
        double* sr = yr + 2 * p * block;
        double* si = yi + 2 * p * block;
        double* dr = sr + block;
        double* di = si + block;
#pragma omp simd
        for (std::int64_t j = 0; j < block; ++j) {
            const double ur = ar[j], ui = ai[j], vr = br[j], vi = bi[j];
            sr[j] = ur + vr;
            si[j] = ui + vi;
            const double tr = ur - vr, ti = ui - vi;
            dr[j] = tr * wr - ti * wi;
            di[j] = tr * wi + ti * wr;
        }
    }
}

}  // namespace

void ColumnFft::transform(double* re, double* im, std::int64_t columns, bool inverse,
                          double* work_re, double* work_im) const {
    // Forward uses w = e^{-2πi/len}: sin enters with sign −1.
    const double sign = inverse ? 1.0 : -1.0;
    double *xr = re, *xi = im, *yr = work_re, *yi = work_im;
    std::int64_t s = 1;
    for (std::int64_t len = n_; len > 1; len /= 2) {
        stage(xr, xi, yr, yi, len, s * columns, n_ / len, cos_.data(), sin_.data(), sign);
        std::swap(xr, yr);
        std::swap(xi, yi);
        s *= 2;
    }
    if (xr != re) {
        std::copy(xr, xr + n_ * columns, re);
        std::copy(xi, xi + n_ * columns, im);
    }
}

}  // namespace structseq::ssm_detail
