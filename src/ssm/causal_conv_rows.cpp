#include "ssm/causal_conv_rows.h"

#include "ssm/fft.h"
#include "structseq/core/cpu_dispatch.h"
#include "structseq/core/threads.h"

#include <algorithm>

namespace structseq::ssm_detail {

namespace {

STRUCTSEQ_CPU_CLONES
void direct_row(const double* x, std::int64_t L, const double* k, std::int64_t Lk, double* y) {
    std::fill(y, y + L, 0.0);
    for (std::int64_t s = 0; s < std::min(L, Lk); ++s) {
        const double tap = k[s];
        double* ys = y + s;
#pragma omp simd
        for (std::int64_t t = 0; t < L - s; ++t) ys[t] += tap * x[t];
    }
}

// Rows a and b (b may be null) packed as re and im of one column of the (N, G) work arrays.
void pack_pair(const double* a, const double* b, std::int64_t length, std::int64_t n,
               std::int64_t column, std::int64_t G, double* re, double* im) {
    for (std::int64_t i = 0; i < n; ++i) {
        re[i * G + column] = i < length ? a[i] : 0.0;
        im[i * G + column] = i < length && b != nullptr ? b[i] : 0.0;
    }
}

// Spectra of two real rows packed as z = a + i b: A[k] = (Z[k] + conj Z[N−k]) / 2,
// B[k] = (Z[k] − conj Z[N−k]) / 2i.
struct PairSpectra {
    double ar, ai, br, bi;
};

inline PairSpectra split(double zr, double zi, double wr, double wi) {
    // w = Z[N − k]
    return {(zr + wr) / 2, (zi - wi) / 2, (zi + wi) / 2, (wr - zr) / 2};
}

void fft_rows(const double* x, std::int64_t columns, std::int64_t L, const double* k,
              std::int64_t kernels, std::int64_t Lk, const std::int64_t* kernel_of, double* y) {
    const std::int64_t n = next_power_of_two(L + Lk - 1);
    const ColumnFft fft(n);
    // Kernel spectra, (N, kernels) split re/im.
    std::vector<double> kr(static_cast<std::size_t>(n * kernels)), ki(kr.size());
    {
        const std::int64_t pairs = (kernels + 1) / 2;
        std::vector<double> re(static_cast<std::size_t>(n * pairs)), im(re.size()),
            wr(re.size()), wi(re.size());
        for (std::int64_t c = 0; c < pairs; ++c) {
            pack_pair(k + 2 * c * Lk, 2 * c + 1 < kernels ? k + (2 * c + 1) * Lk : nullptr, Lk,
                      n, c, pairs, re.data(), im.data());
        }
        fft.transform(re.data(), im.data(), pairs, false, wr.data(), wi.data());
        for (std::int64_t i = 0; i < n; ++i) {
            const std::int64_t mirror = (n - i) % n;
            for (std::int64_t c = 0; c < pairs; ++c) {
                const PairSpectra s = split(re[i * pairs + c], im[i * pairs + c],
                                            re[mirror * pairs + c], im[mirror * pairs + c]);
                kr[i * kernels + 2 * c] = s.ar;
                ki[i * kernels + 2 * c] = s.ai;
                if (2 * c + 1 < kernels) {
                    kr[i * kernels + 2 * c + 1] = s.br;
                    ki[i * kernels + 2 * c + 1] = s.bi;
                }
            }
        }
    }
    // Rows in groups of 2G (G pair-columns), G chosen to keep a group's arrays near 8 MiB.
    const std::int64_t G = std::clamp<std::int64_t>((std::int64_t{1} << 20) / n, 1, 16);
    const std::int64_t groups = (columns + 2 * G - 1) / (2 * G);
#pragma omp parallel num_threads(num_threads()) if (groups > 1)
    {
        std::vector<double> re(static_cast<std::size_t>(n * G)), im(re.size()), wr(re.size()),
            wi(re.size());
#pragma omp for schedule(dynamic)
        for (std::int64_t g = 0; g < groups; ++g) {
            const std::int64_t first = g * 2 * G;
            const std::int64_t count = std::min(2 * G, columns - first);
            const std::int64_t used = (count + 1) / 2;
            for (std::int64_t c = 0; c < used; ++c) {
                const std::int64_t a = first + 2 * c;
                pack_pair(x + a * L, 2 * c + 1 < count ? x + (a + 1) * L : nullptr, L, n, c, G,
                          re.data(), im.data());
            }
            fft.transform(re.data(), im.data(), G, false, wr.data(), wi.data());
            // Y = U_a K_a + i U_b K_b, from Z and Z[N − k]; the products for k and N − k are
            // formed together so that the update is in place.
            for (std::int64_t i = 0; i <= n / 2; ++i) {
                const std::int64_t mirror = (n - i) % n;
                for (std::int64_t c = 0; c < used; ++c) {
                    const std::int64_t a = first + 2 * c;
                    const std::int64_t ka = kernel_of[a];
                    const std::int64_t kb = 2 * c + 1 < count ? kernel_of[a + 1] : ka;
                    const auto product = [&](std::int64_t p, std::int64_t q, double& outr,
                                             double& outi) {
                        const PairSpectra s =
                            split(re[p * G + c], im[p * G + c], re[q * G + c], im[q * G + c]);
                        const double kar = kr[p * kernels + ka], kai = ki[p * kernels + ka];
                        const double kbr = kr[p * kernels + kb], kbi = ki[p * kernels + kb];
                        const double yar = s.ar * kar - s.ai * kai, yai = s.ar * kai + s.ai * kar;
                        const double ybr = s.br * kbr - s.bi * kbi, ybi = s.br * kbi + s.bi * kbr;
                        outr = yar - ybi;
                        outi = yai + ybr;
                    };
                    double r0, i0, r1, i1;
                    product(i, mirror, r0, i0);
                    product(mirror, i, r1, i1);
                    re[i * G + c] = r0;
                    im[i * G + c] = i0;
                    re[mirror * G + c] = r1;
                    im[mirror * G + c] = i1;
                }
            }
            fft.transform(re.data(), im.data(), G, true, wr.data(), wi.data());
            const double scale = 1.0 / static_cast<double>(n);
            for (std::int64_t c = 0; c < count; ++c) {
                const std::vector<double>& part = c % 2 == 0 ? re : im;
                double* out = y + (first + c) * L;
                for (std::int64_t t = 0; t < L; ++t) out[t] = part[t * G + c / 2] * scale;
            }
        }
    }
}

}  // namespace

void causal_conv_rows(const double* x, std::int64_t columns, std::int64_t L, const double* k,
                      std::int64_t kernels, std::int64_t Lk, const std::int64_t* kernel_of,
                      ConvMethod method, double* y) {
    if (columns == 0 || L == 0) return;
    if (method == ConvMethod::Fft) {
        fft_rows(x, columns, L, k, kernels, Lk, kernel_of, y);
        return;
    }
#pragma omp parallel for num_threads(num_threads()) schedule(static) if (columns * L * Lk > 100000)
    for (std::int64_t j = 0; j < columns; ++j) {
        direct_row(x + j * L, L, k + kernel_of[j] * Lk, Lk, y + j * L);
    }
}

}  // namespace structseq::ssm_detail
