#include "ssm/fft_convolution.h"

#include "ssm/fft.h"
#include "structseq/core/threads.h"

#include <algorithm>
#include <cstring>

namespace structseq::ssm_detail {

namespace {

// Columns per task: each of the four (n, G) buffers near 128 KiB, and at least 32 bytes of
// columns for the first FFT stage, whose loops run over G values (wider minimums pushed the
// buffers of long sequences out of L2 and measured slower).
template <class Real>
std::int64_t block_width(std::int64_t n, std::int64_t H) {
    constexpr std::int64_t kBufferBytes = std::int64_t{1} << 17;
    constexpr std::int64_t kVector = 32 / sizeof(Real);
    return std::min(H, std::clamp<std::int64_t>(kBufferBytes / sizeof(Real) / n, kVector, 64));
}

template <class Real>
struct Buffers {
    std::vector<Real> re, im, work_re, work_im;
    explicit Buffers(std::size_t size) : re(size), im(size), work_re(size), work_im(size) {}
};

// Rows b (into re) and b + 1 (into im, or zeros when `second` is false) of x (batch, L, H),
// columns [h0, h0 + G), zero-padded to n.
template <class Real>
void load(const Real* x, std::int64_t L, std::int64_t H, std::int64_t b, bool second,
          std::int64_t h0, std::int64_t G, std::int64_t n, Buffers<Real>& buf) {
    for (std::int64_t i = 0; i < L; ++i) {
        std::memcpy(buf.re.data() + i * G, x + (b * L + i) * H + h0, G * sizeof(Real));
        if (second) {
            std::memcpy(buf.im.data() + i * G, x + ((b + 1) * L + i) * H + h0, G * sizeof(Real));
        } else {
            std::fill_n(buf.im.data() + i * G, G, Real(0));
        }
    }
    std::fill(buf.re.begin() + L * G, buf.re.begin() + n * G, Real(0));
    std::fill(buf.im.begin() + L * G, buf.im.begin() + n * G, Real(0));
}

}  // namespace

template <class Real>
FftConvolution<Real>::FftConvolution(const Real* K, std::int64_t Lk, std::int64_t H, std::int64_t L)
    : L_(L),
      H_(H),
      n_(next_power_of_two(L + std::min(L, Lk) - 1)),
      fft_(n_),
      kr_(static_cast<std::size_t>(n_ * H)),
      ki_(kr_.size()) {
    const std::int64_t taps = std::min(L, Lk);
    const std::int64_t G = block_width<Real>(n_, H);
    const std::int64_t blocks = (H + G - 1) / G;
#pragma omp parallel num_threads(num_threads()) if (blocks > 1)
    {
        Buffers<Real> buf(static_cast<std::size_t>(n_ * G));
#pragma omp for schedule(static)
        for (std::int64_t blk = 0; blk < blocks; ++blk) {
            const std::int64_t h0 = blk * G, width = std::min(G, H - h0);
            std::fill(buf.re.begin(), buf.re.end(), Real(0));
            std::fill(buf.im.begin(), buf.im.end(), Real(0));
            for (std::int64_t s = 0; s < taps; ++s) {
                std::memcpy(buf.re.data() + s * G, K + s * H + h0, width * sizeof(Real));
            }
            fft_.transform(buf.re.data(), buf.im.data(), G, false, buf.work_re.data(),
                           buf.work_im.data());
            for (std::int64_t i = 0; i < n_; ++i) {
                std::memcpy(kr_.data() + i * H + h0, buf.re.data() + i * G, width * sizeof(Real));
                std::memcpy(ki_.data() + i * H + h0, buf.im.data() + i * G, width * sizeof(Real));
            }
        }
    }
}

template <class Real>
void FftConvolution<Real>::convolve(const Real* x, std::int64_t batch, bool adjoint,
                                    Real* y) const {
    const std::int64_t n = n_, L = L_, H = H_;
    const std::int64_t G = block_width<Real>(n, H);
    const std::int64_t blocks = (H + G - 1) / G;
    const std::int64_t pairs = (batch + 1) / 2;
    const Real scale = Real(1) / static_cast<Real>(n);
    const Real sign = adjoint ? Real(-1) : Real(1);
#pragma omp parallel num_threads(num_threads()) if (pairs * blocks > 1)
    {
        Buffers<Real> buf(static_cast<std::size_t>(n * G));
#pragma omp for schedule(static)
        for (std::int64_t task = 0; task < pairs * blocks; ++task) {
            const std::int64_t b = 2 * (task / blocks), h0 = (task % blocks) * G;
            // A partial last block reads the columns just before it again (G ≤ H), so every
            // load is G wide; only its own columns are stored.
            const std::int64_t start = std::min(h0, H - G);
            const bool second = b + 1 < batch;
            load(x, L, H, b, second, start, G, n, buf);
            fft_.transform(buf.re.data(), buf.im.data(), G, false, buf.work_re.data(),
                           buf.work_im.data());
            for (std::int64_t i = 0; i < n; ++i) {
                Real* zr = buf.re.data() + i * G;
                Real* zi = buf.im.data() + i * G;
                const Real* kr = kr_.data() + i * H + start;
                const Real* ki = ki_.data() + i * H + start;
#pragma omp simd
                for (std::int64_t c = 0; c < G; ++c) {
                    const Real r = zr[c] * kr[c] - sign * zi[c] * ki[c];
                    zi[c] = zi[c] * kr[c] + sign * zr[c] * ki[c];
                    zr[c] = r;
                }
            }
            fft_.transform(buf.re.data(), buf.im.data(), G, true, buf.work_re.data(),
                           buf.work_im.data());
            const std::int64_t skip = h0 - start, width = std::min(G, H - h0);
            for (std::int64_t t = 0; t < L; ++t) {
                Real* ya = y + (b * L + t) * H + h0;
                const Real* ra = buf.re.data() + t * G + skip;
                for (std::int64_t c = 0; c < width; ++c) ya[c] = ra[c] * scale;
                if (second) {
                    Real* yb = y + ((b + 1) * L + t) * H + h0;
                    const Real* ia = buf.im.data() + t * G + skip;
                    for (std::int64_t c = 0; c < width; ++c) yb[c] = ia[c] * scale;
                }
            }
        }
    }
}

template <class Real>
void FftConvolution<Real>::kernel_gradient(const Real* dy, const Real* u, std::int64_t batch,
                                           std::int64_t L, std::int64_t H, std::int64_t Lk,
                                           Real* dK) {
    const std::int64_t n = next_power_of_two(2 * L - 1);
    const std::int64_t G = block_width<Real>(n, H);
    const std::int64_t blocks = (H + G - 1) / G;
    const ColumnFft<Real> fft(n);
    const Real scale = Real(1) / static_cast<Real>(n);
#pragma omp parallel num_threads(num_threads()) if (blocks > 1)
    {
        Buffers<Real> ub(static_cast<std::size_t>(n * G)), yb(ub.re.size());
        std::vector<Real> acc_re(ub.re.size()), acc_im(ub.re.size());
#pragma omp for schedule(static)
        for (std::int64_t blk = 0; blk < blocks; ++blk) {
            const std::int64_t h0 = blk * G, start = std::min(h0, H - G);
            std::fill(acc_re.begin(), acc_re.end(), Real(0));
            std::fill(acc_im.begin(), acc_im.end(), Real(0));
            for (std::int64_t b = 0; b < batch; b += 2) {
                const bool second = b + 1 < batch;
                load(u, L, H, b, second, start, G, n, ub);
                load(dy, L, H, b, second, start, G, n, yb);
                fft.transform(ub.re.data(), ub.im.data(), G, false, ub.work_re.data(),
                              ub.work_im.data());
                fft.transform(yb.re.data(), yb.im.data(), G, false, yb.work_re.data(),
                              yb.work_im.data());
                // Split each packed pair, A = (Z[k] + conj Z[n−k]) / 2, B = (Z[k] − conj Z[n−k]) /
                // 2i, and accumulate DY_a conj(U_a) + DY_b conj(U_b).
                for (std::int64_t i = 0; i < n; ++i) {
                    const std::int64_t m = (n - i) % n;
                    for (std::int64_t c = 0; c < G; ++c) {
                        const Real zr = ub.re[i * G + c], zi = ub.im[i * G + c];
                        const Real wr = ub.re[m * G + c], wi = ub.im[m * G + c];
                        const Real uar = (zr + wr) / 2, uai = (zi - wi) / 2;
                        const Real ubr = (zi + wi) / 2, ubi = (wr - zr) / 2;
                        const Real pr = yb.re[i * G + c], pi = yb.im[i * G + c];
                        const Real qr = yb.re[m * G + c], qi = yb.im[m * G + c];
                        const Real yar = (pr + qr) / 2, yai = (pi - qi) / 2;
                        const Real ybr = (pi + qi) / 2, ybi = (qr - pr) / 2;
                        acc_re[i * G + c] += yar * uar + yai * uai + ybr * ubr + ybi * ubi;
                        acc_im[i * G + c] += yai * uar - yar * uai + ybi * ubr - ybr * ubi;
                    }
                }
            }
            fft.transform(acc_re.data(), acc_im.data(), G, true, ub.work_re.data(),
                          ub.work_im.data());
            const std::int64_t skip = h0 - start, width = std::min(G, H - h0);
            for (std::int64_t s = 0; s < std::min(Lk, L); ++s) {
                for (std::int64_t c = 0; c < width; ++c) {
                    dK[s * H + h0 + c] = acc_re[s * G + skip + c] * scale;
                }
            }
        }
    }
}

template class FftConvolution<float>;
template class FftConvolution<double>;

}  // namespace structseq::ssm_detail
