#include "ssm/fft_convolution.h"

#include "ssm/fft.h"
#include "structseq/core/threads.h"

#include <algorithm>
#include <cstring>

namespace structseq::ssm_detail {

namespace {

// Columns per task: the four (n, G) buffers near 1 MiB, at least 8 columns for the vector
// loops of the early FFT stages.
std::int64_t block_width(std::int64_t n, std::int64_t H) {
    return std::min(H, std::clamp<std::int64_t>((std::int64_t{1} << 14) / n, 8, 64));
}

struct Buffers {
    std::vector<double> re, im, work_re, work_im;
    explicit Buffers(std::size_t size) : re(size), im(size), work_re(size), work_im(size) {}
};

// Rows b (into re) and b + 1 (into im, or zeros when `second` is false) of x (batch, L, H),
// columns [h0, h0 + G), zero-padded to n.
void load(const double* x, std::int64_t L, std::int64_t H, std::int64_t b, bool second,
          std::int64_t h0, std::int64_t G, std::int64_t n, Buffers& buf) {
    for (std::int64_t i = 0; i < L; ++i) {
        std::memcpy(buf.re.data() + i * G, x + (b * L + i) * H + h0, G * sizeof(double));
        if (second) {
            std::memcpy(buf.im.data() + i * G, x + ((b + 1) * L + i) * H + h0, G * sizeof(double));
        } else {
            std::fill_n(buf.im.data() + i * G, G, 0.0);
        }
    }
    std::fill(buf.re.begin() + L * G, buf.re.begin() + n * G, 0.0);
    std::fill(buf.im.begin() + L * G, buf.im.begin() + n * G, 0.0);
}

}  // namespace

FftConvolution::FftConvolution(const double* K, std::int64_t Lk, std::int64_t H, std::int64_t L)
    : L_(L), H_(H), n_(next_power_of_two(L + std::min(L, Lk) - 1)),
      kr_(static_cast<std::size_t>(n_ * H)), ki_(kr_.size()) {
    const std::int64_t taps = std::min(L, Lk);
    const std::int64_t G = block_width(n_, H);
    const std::int64_t blocks = (H + G - 1) / G;
    const ColumnFft fft(n_);
#pragma omp parallel num_threads(num_threads()) if (blocks > 1)
    {
        Buffers buf(static_cast<std::size_t>(n_ * G));
#pragma omp for schedule(static)
        for (std::int64_t blk = 0; blk < blocks; ++blk) {
            const std::int64_t h0 = blk * G, width = std::min(G, H - h0);
            std::fill(buf.re.begin(), buf.re.end(), 0.0);
            std::fill(buf.im.begin(), buf.im.end(), 0.0);
            for (std::int64_t s = 0; s < taps; ++s) {
                std::memcpy(buf.re.data() + s * G, K + s * H + h0, width * sizeof(double));
            }
            fft.transform(buf.re.data(), buf.im.data(), G, false, buf.work_re.data(),
                          buf.work_im.data());
            for (std::int64_t i = 0; i < n_; ++i) {
                std::memcpy(kr_.data() + i * H + h0, buf.re.data() + i * G, width * sizeof(double));
                std::memcpy(ki_.data() + i * H + h0, buf.im.data() + i * G, width * sizeof(double));
            }
        }
    }
}

void FftConvolution::convolve(const double* x, std::int64_t batch, bool adjoint,
                              double* y) const {
    const std::int64_t n = n_, L = L_, H = H_;
    const std::int64_t G = block_width(n, H);
    const std::int64_t blocks = (H + G - 1) / G;
    const std::int64_t pairs = (batch + 1) / 2;
    const ColumnFft fft(n);
    const double scale = 1.0 / static_cast<double>(n);
    const double sign = adjoint ? -1.0 : 1.0;
#pragma omp parallel num_threads(num_threads()) if (pairs * blocks > 1)
    {
        Buffers buf(static_cast<std::size_t>(n * G));
#pragma omp for schedule(static)
        for (std::int64_t task = 0; task < pairs * blocks; ++task) {
            const std::int64_t b = 2 * (task / blocks), h0 = (task % blocks) * G;
            // A partial last block reads the columns just before it again (G ≤ H), so every
            // load is G wide; only its own columns are stored.
            const std::int64_t start = std::min(h0, H - G);
            const bool second = b + 1 < batch;
            load(x, L, H, b, second, start, G, n, buf);
            fft.transform(buf.re.data(), buf.im.data(), G, false, buf.work_re.data(),
                          buf.work_im.data());
            for (std::int64_t i = 0; i < n; ++i) {
                double* zr = buf.re.data() + i * G;
                double* zi = buf.im.data() + i * G;
                const double* kr = kr_.data() + i * H + start;
                const double* ki = ki_.data() + i * H + start;
#pragma omp simd
                for (std::int64_t c = 0; c < G; ++c) {
                    const double r = zr[c] * kr[c] - sign * zi[c] * ki[c];
                    zi[c] = zi[c] * kr[c] + sign * zr[c] * ki[c];
                    zr[c] = r;
                }
            }
            fft.transform(buf.re.data(), buf.im.data(), G, true, buf.work_re.data(),
                          buf.work_im.data());
            const std::int64_t skip = h0 - start, width = std::min(G, H - h0);
            for (std::int64_t t = 0; t < L; ++t) {
                double* ya = y + (b * L + t) * H + h0;
                const double* ra = buf.re.data() + t * G + skip;
                for (std::int64_t c = 0; c < width; ++c) ya[c] = ra[c] * scale;
                if (second) {
                    double* yb = y + ((b + 1) * L + t) * H + h0;
                    const double* ia = buf.im.data() + t * G + skip;
                    for (std::int64_t c = 0; c < width; ++c) yb[c] = ia[c] * scale;
                }
            }
        }
    }
}

void FftConvolution::kernel_gradient(const double* dy, const double* u, std::int64_t batch,
                                     std::int64_t L, std::int64_t H, std::int64_t Lk,
                                     double* dK) {
    const std::int64_t n = next_power_of_two(2 * L - 1);
    const std::int64_t G = block_width(n, H);
    const std::int64_t blocks = (H + G - 1) / G;
    const ColumnFft fft(n);
    const double scale = 1.0 / static_cast<double>(n);
#pragma omp parallel num_threads(num_threads()) if (blocks > 1)
    {
        Buffers ub(static_cast<std::size_t>(n * G)), yb(ub.re.size());
        std::vector<double> acc_re(ub.re.size()), acc_im(ub.re.size());
#pragma omp for schedule(static)
        for (std::int64_t blk = 0; blk < blocks; ++blk) {
            const std::int64_t h0 = blk * G, start = std::min(h0, H - G);
            std::fill(acc_re.begin(), acc_re.end(), 0.0);
            std::fill(acc_im.begin(), acc_im.end(), 0.0);
            for (std::int64_t b = 0; b < batch; b += 2) {
                const bool second = b + 1 < batch;
                load(u, L, H, b, second, start, G, n, ub);
                load(dy, L, H, b, second, start, G, n, yb);
                fft.transform(ub.re.data(), ub.im.data(), G, false, ub.work_re.data(),
                              ub.work_im.data());
                fft.transform(yb.re.data(), yb.im.data(), G, false, yb.work_re.data(),
                              yb.work_im.data());
                // Split each packed pair, A = (Z[k] + conj Z[n−k]) / 2, B = (Z[k] − conj Z[n−k]) / 2i,
                // and accumulate DY_a conj(U_a) + DY_b conj(U_b).
                for (std::int64_t i = 0; i < n; ++i) {
                    const std::int64_t m = (n - i) % n;
                    for (std::int64_t c = 0; c < G; ++c) {
                        const double zr = ub.re[i * G + c], zi = ub.im[i * G + c];
                        const double wr = ub.re[m * G + c], wi = ub.im[m * G + c];
                        const double uar = (zr + wr) / 2, uai = (zi - wi) / 2;
                        const double ubr = (zi + wi) / 2, ubi = (wr - zr) / 2;
                        const double pr = yb.re[i * G + c], pi = yb.im[i * G + c];
                        const double qr = yb.re[m * G + c], qi = yb.im[m * G + c];
                        const double yar = (pr + qr) / 2, yai = (pi - qi) / 2;
                        const double ybr = (pi + qi) / 2, ybi = (qr - pr) / 2;
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

}  // namespace structseq::ssm_detail
