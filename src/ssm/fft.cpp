#include "ssm/fft.h"

#include "structseq/core/cpu_dispatch.h"

#include <cmath>
#include <map>
#include <mutex>
#include <numbers>
#include <utility>

namespace structseq::ssm_detail {

std::int64_t next_power_of_two(std::int64_t n) {
    std::int64_t p = 1;
    while (p < n) p *= 2;
    return p;
}

namespace {

template <class Real>
std::shared_ptr<const typename ColumnFft<Real>::Twiddles> twiddles_for(std::int64_t n) {
    using Twiddles = typename ColumnFft<Real>::Twiddles;
    static std::mutex mutex;
    static std::map<std::int64_t, std::shared_ptr<const Twiddles>> cache;
    const std::lock_guard<std::mutex> lock(mutex);
    auto& entry = cache[n];
    if (!entry) {
        auto t = std::make_shared<Twiddles>();
        t->cos.resize(static_cast<std::size_t>(n));
        t->sin.resize(static_cast<std::size_t>(n));
        for (std::int64_t k = 0; k < n; ++k) {
            const double angle =
                2 * std::numbers::pi * static_cast<double>(k) / static_cast<double>(n);
            t->cos[static_cast<std::size_t>(k)] = static_cast<Real>(std::cos(angle));
            t->sin[static_cast<std::size_t>(k)] = static_cast<Real>(std::sin(angle));
        }
        entry = std::move(t);
    }
    return entry;
}

// One radix-2 stage on sequences of length `len` (m = len/2), `block` = stride · columns
// contiguous values per index p:
//   y[2p] = x[p] + x[p + m],  y[2p + 1] = (x[p] − x[p + m]) · w^p,  w = e^{∓2πi/len}.
template <class Real>
STRUCTSEQ_CPU_CLONES void radix2(const Real* xr, const Real* xi, Real* yr, Real* yi,
                                 std::int64_t len, std::int64_t block, std::int64_t step,
                                 const Real* cos_table, const Real* sin_table, Real sign) {
    const std::int64_t m = len / 2;
    for (std::int64_t p = 0; p < m; ++p) {
        const Real wr = cos_table[p * step], wi = sign * sin_table[p * step];
        const Real *ar = xr + p * block, *ai = xi + p * block;
        const Real *br = xr + (p + m) * block, *bi = xi + (p + m) * block;
        Real *sr = yr + 2 * p * block, *si = yi + 2 * p * block;
        Real *dr = sr + block, *di = si + block;
#pragma omp simd
        for (std::int64_t j = 0; j < block; ++j) {
            const Real ur = ar[j], ui = ai[j], vr = br[j], vi = bi[j];
            sr[j] = ur + vr;
            si[j] = ui + vi;
            const Real tr = ur - vr, ti = ui - vi;
            dr[j] = tr * wr - ti * wi;
            di[j] = tr * wi + ti * wr;
        }
    }
}

// One radix-4 stage (q = len/4): with a, b, c, d = x[p + kq] and j = ∓i (the sign of the
// transform),
//   y[4p]     = (a + c) + (b + d)
//   y[4p + 1] = ((a − c) + j (b − d)) · w^p
//   y[4p + 2] = ((a + c) − (b + d)) · w^{2p}
//   y[4p + 3] = ((a − c) − j (b − d)) · w^{3p},   w = e^{∓2πi/len}.
template <class Real>
STRUCTSEQ_CPU_CLONES void radix4(const Real* xr, const Real* xi, Real* yr, Real* yi,
                                 std::int64_t len, std::int64_t block, std::int64_t step,
                                 const Real* cos_table, const Real* sin_table, Real sign) {
    const std::int64_t q = len / 4;
    for (std::int64_t p = 0; p < q; ++p) {
        const Real w1r = cos_table[p * step], w1i = sign * sin_table[p * step];
        const Real w2r = cos_table[2 * p * step], w2i = sign * sin_table[2 * p * step];
        const Real w3r = cos_table[3 * p * step], w3i = sign * sin_table[3 * p * step];
        const Real *ar = xr + p * block, *ai = xi + p * block;
        const Real *br = ar + q * block, *bi = ai + q * block;
        const Real *cr = br + q * block, *ci = bi + q * block;
        const Real *dr = cr + q * block, *di = ci + q * block;
        Real *y0r = yr + 4 * p * block, *y0i = yi + 4 * p * block;
        Real *y1r = y0r + block, *y1i = y0i + block;
        Real *y2r = y1r + block, *y2i = y1i + block;
        Real *y3r = y2r + block, *y3i = y2i + block;
#pragma omp simd
        for (std::int64_t k = 0; k < block; ++k) {
            const Real t0r = ar[k] + cr[k], t0i = ai[k] + ci[k];
            const Real t1r = ar[k] - cr[k], t1i = ai[k] - ci[k];
            const Real t2r = br[k] + dr[k], t2i = bi[k] + di[k];
            // j (b − d) with j = sign · i: (x + iy) · sign·i = −sign·y + i sign·x
            const Real t3r = -sign * (bi[k] - di[k]), t3i = sign * (br[k] - dr[k]);
            y0r[k] = t0r + t2r;
            y0i[k] = t0i + t2i;
            const Real u1r = t1r + t3r, u1i = t1i + t3i;
            y1r[k] = u1r * w1r - u1i * w1i;
            y1i[k] = u1r * w1i + u1i * w1r;
            const Real u2r = t0r - t2r, u2i = t0i - t2i;
            y2r[k] = u2r * w2r - u2i * w2i;
            y2i[k] = u2r * w2i + u2i * w2r;
            const Real u3r = t1r - t3r, u3i = t1i - t3i;
            y3r[k] = u3r * w3r - u3i * w3i;
            y3i[k] = u3r * w3i + u3i * w3r;
        }
    }
}

}  // namespace

template <class Real>
ColumnFft<Real>::ColumnFft(std::int64_t n) : n_(n), twiddles_(twiddles_for<Real>(n)) {}

template <class Real>
void ColumnFft<Real>::transform(Real* re, Real* im, std::int64_t columns, bool inverse,
                                Real* work_re, Real* work_im) const {
    const Real sign = inverse ? Real(1) : Real(-1);  // forward: w = e^{−2πi/len}
    Real *xr = re, *xi = im, *yr = work_re, *yi = work_im;
    std::int64_t s = 1, len = n_;
    int stages = 0;
    while (len > 1) {
        const bool two =
            len == 2 ||
            (stages == 0 && (__builtin_ctzll(static_cast<unsigned long long>(n_)) % 2 == 1));
        if (two) {
            radix2(xr, xi, yr, yi, len, s * columns, n_ / len, twiddles_->cos.data(),
                   twiddles_->sin.data(), sign);
            len /= 2;
            s *= 2;
        } else {
            radix4(xr, xi, yr, yi, len, s * columns, n_ / len, twiddles_->cos.data(),
                   twiddles_->sin.data(), sign);
            len /= 4;
            s *= 4;
        }
        std::swap(xr, yr);
        std::swap(xi, yi);
        ++stages;
    }
    if (xr != re) {
        std::copy(xr, xr + n_ * columns, re);
        std::copy(xi, xi + n_ * columns, im);
    }
}

template class ColumnFft<float>;
template class ColumnFft<double>;

}  // namespace structseq::ssm_detail
