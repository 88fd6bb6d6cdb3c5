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
void direct_row(const double* x, std::int64_t L, const double* k, std::int64_t taps,
                double* padded, double* y) {
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

}  // namespace structseq::ssm_detail
