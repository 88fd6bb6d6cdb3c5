#include "ssm/direct_convolution.h"

#include "structseq/core/cpu_dispatch.h"
#include "structseq/core/lane_vector.h"
#include "structseq/core/threads.h"

#include <algorithm>
#include <vector>

namespace structseq::ssm_detail {

namespace {

// 32 outputs per block, accumulated in registers: acc += k[s] · x[t0 − s : t0 − s + 32] for
// every tap s that reaches the block. `padded` holds x after P = taps − 1 zeros and before 32
// zeros, so the taps that reach before t = 0 read zeros and every load is a full block.
// Four separate 8-wide accumulators: GCC keeps those in registers, a single 32-wide vector it
// spills on every tap.
constexpr std::int64_t kBlock = 32;
typedef double Eight __attribute__((vector_size(8 * sizeof(double))));

STRUCTSEQ_CPU_CLONES
void direct_row(const double* x, std::int64_t L, const double* k, std::int64_t taps, double* padded,
                double* y) {
    const std::int64_t P = taps - 1;
    std::fill_n(padded, P, 0.0);
    std::copy(x, x + L, padded + P);
    std::fill_n(padded + P + L, kBlock, 0.0);
    for (std::int64_t t0 = 0; t0 < L; t0 += kBlock) {
        Eight acc[4] = {};
        const std::int64_t last = std::min(taps - 1, t0 + kBlock - 1);
        for (std::int64_t s = 0; s <= last; ++s) {
            const double* window = padded + P + t0 - s;
            const double tap = k[s];
            for (int q = 0; q < 4; ++q) acc[q] += tap * load_lanes<Eight>(window + 8 * q);
        }
        double out[kBlock];
        for (int q = 0; q < 4; ++q) store_lanes(out + 8 * q, acc[q]);
        std::copy_n(out, std::min(kBlock, L - t0), y + t0);
    }
}

}  // namespace

void direct_convolution(const double* x, std::int64_t rows, std::int64_t L, const double* k,
                        std::int64_t Lk, const std::int64_t* kernel_of, double* y) {
    const std::int64_t taps = std::min(L, Lk);
#pragma omp parallel num_threads(num_threads()) if (rows > 1 && rows * L * taps > 100000)
    {
        std::vector<double> padded(static_cast<std::size_t>(L + taps + kBlock));
#pragma omp for schedule(static)
        for (std::int64_t j = 0; j < rows; ++j) {
            direct_row(x + j * L, L, k + kernel_of[j] * Lk, taps, padded.data(), y + j * L);
        }
    }
}

namespace {

using Lanes8 = LaneVector<double, 8>;

// One output of channel h: the taps that reach inside the row.
template <bool Adjoint>
STRUCTSEQ_ALWAYS_INLINE double channel_output(const double* x, std::int64_t L, std::int64_t H,
                                              const double* K, std::int64_t taps, std::int64_t t,
                                              std::int64_t h) {
    double acc = 0;
    const std::int64_t last = Adjoint ? std::min(taps, L - t) : std::min(taps, t + 1);
    for (std::int64_t s = 0; s < last; ++s) {
        acc += K[s * H + h] * x[(Adjoint ? t + s : t - s) * H + h];
    }
    return acc;
}

// Channels [h0, h0 + width) of one row, width ≤ 8. Full blocks of 8 outputs × 8 channels
// accumulate in registers over the taps that reach all four rows; the rest go one by one.
template <bool Adjoint>
STRUCTSEQ_ALWAYS_INLINE void channels_block(const double* x, std::int64_t L, std::int64_t H,
                                            const double* K, std::int64_t taps, std::int64_t h0,
                                            std::int64_t width, double* y) {
    constexpr std::int64_t kRows = 8;  // independent accumulators: hides the FMA latency
    std::int64_t t0 = 0;
    if (width == 8) {
        for (; t0 + kRows <= L; t0 += kRows) {
            Lanes8 acc[kRows] = {};
            // Taps reaching every row: causal s ≤ t0, adjoint s ≤ L − t0 − kRows.
            const std::int64_t common =
                Adjoint ? std::min(taps, L - t0 - kRows + 1) : std::min(taps, t0 + 1);
            const double* k = K + h0;
            const double* p = x + t0 * H + h0;  // x[t0 ∓ s]
            const std::int64_t step = Adjoint ? H : -H;
            for (std::int64_t s = 0; s < common; ++s, k += H, p += step) {
                const Lanes8 tap = load_lanes<Lanes8>(k);
                for (std::int64_t q = 0; q < kRows; ++q)
                    acc[q] += tap * load_lanes<Lanes8>(p + q * H);
            }
            // Taps reaching only some rows (near t = 0, or near t = L for the adjoint).
            const std::int64_t last = Adjoint ? std::min(taps, L - t0) : std::min(taps, t0 + kRows);
            for (std::int64_t s = common; s < last; ++s) {
                const Lanes8 tap = load_lanes<Lanes8>(K + s * H + h0);
                for (std::int64_t q = 0; q < kRows; ++q) {
                    const std::int64_t src = Adjoint ? t0 + q + s : t0 + q - s;
                    if (src >= 0 && src < L) acc[q] += tap * load_lanes<Lanes8>(x + src * H + h0);
                }
            }
            for (std::int64_t q = 0; q < kRows; ++q) store_lanes(y + (t0 + q) * H + h0, acc[q]);
        }
    }
    for (std::int64_t t = t0; t < L; ++t) {
        for (std::int64_t h = h0; h < h0 + width; ++h) {
            y[t * H + h] = channel_output<Adjoint>(x, L, H, K, taps, t, h);
        }
    }
}

STRUCTSEQ_CPU_CLONES
void channels_block_clone(const double* x, std::int64_t L, std::int64_t H, const double* K,
                          std::int64_t taps, bool adjoint, std::int64_t h0, std::int64_t width,
                          double* y) {
    adjoint ? channels_block<true>(x, L, H, K, taps, h0, width, y)
            : channels_block<false>(x, L, H, K, taps, h0, width, y);
}

STRUCTSEQ_CPU_CLONES
void gradient_block(const double* dy, const double* x, std::int64_t batch, std::int64_t L,
                    std::int64_t H, std::int64_t s, double* dK) {
    std::int64_t h0 = 0;
    for (; h0 + 8 <= H; h0 += 8) {
        Lanes8 acc = {};
        for (std::int64_t b = 0; b < batch; ++b) {
            for (std::int64_t t = s; t < L; ++t) {
                acc += load_lanes<Lanes8>(dy + (b * L + t) * H + h0) *
                       load_lanes<Lanes8>(x + (b * L + t - s) * H + h0);
            }
        }
        store_lanes(dK + s * H + h0, acc);
    }
    for (std::int64_t h = h0; h < H; ++h) {
        double acc = 0;
        for (std::int64_t b = 0; b < batch; ++b) {
            for (std::int64_t t = s; t < L; ++t)
                acc += dy[(b * L + t) * H + h] * x[(b * L + t - s) * H + h];
        }
        dK[s * H + h] = acc;
    }
}

}  // namespace

void direct_convolution_channels(const double* x, std::int64_t batch, std::int64_t L,
                                 std::int64_t H, const double* K, std::int64_t taps, bool adjoint,
                                 double* y) {
    const std::int64_t blocks = (H + 7) / 8;
    // Each task copies its 8 channels of x and K into contiguous (·, 8) buffers first: read in
    // place, every tap would touch a new cache line of a row H values wide.
#pragma omp parallel num_threads(num_threads()) if (batch * blocks > 1 && \
                                                    batch * L * H * taps > 100000)
    {
        std::vector<double> xb(static_cast<std::size_t>(8 * L)),
            kb(static_cast<std::size_t>(8 * taps)), yb(xb.size());
#pragma omp for schedule(static)
        for (std::int64_t task = 0; task < batch * blocks; ++task) {
            const std::int64_t b = task / blocks, h0 = (task % blocks) * 8;
            const std::int64_t width = std::min<std::int64_t>(8, H - h0);
            const double* xr = x + b * L * H;
            double* yr = y + b * L * H;
            if (width < 8) {
                channels_block_clone(xr, L, H, K, taps, adjoint, h0, width, yr);
                continue;
            }
            for (std::int64_t t = 0; t < L; ++t) std::copy_n(xr + t * H + h0, 8, xb.data() + 8 * t);
            for (std::int64_t s = 0; s < taps; ++s)
                std::copy_n(K + s * H + h0, 8, kb.data() + 8 * s);
            channels_block_clone(xb.data(), L, 8, kb.data(), taps, adjoint, 0, 8, yb.data());
            for (std::int64_t t = 0; t < L; ++t) std::copy_n(yb.data() + 8 * t, 8, yr + t * H + h0);
        }
    }
}

void direct_kernel_gradient_channels(const double* dy, const double* x, std::int64_t batch,
                                     std::int64_t L, std::int64_t H, std::int64_t taps,
                                     double* dK) {
#pragma omp parallel for num_threads(num_threads()) \
    schedule(dynamic) if (taps > 1 && batch * L * H * taps > 100000)
    for (std::int64_t s = 0; s < taps; ++s) gradient_block(dy, x, batch, L, H, s, dK);
}

}  // namespace structseq::ssm_detail
