#include "streaming_gemv.h"

#include "row_shares.h"

#include "structseq/core/cpu_dispatch.h"
#include "structseq/core/float16.h"
#include "structseq/core/lane_vector.h"
#include "structseq/core/threads.h"

#include <omp.h>

#include <cstdint>
#include <type_traits>

namespace structseq {

namespace {

// `lanes` consecutive weights as a vector of Real: float32 or float64 as stored, bfloat16 widened
// to float32 (the 16 stored bits are the high half of the float).
template <class V, class Weight>
STRUCTSEQ_ALWAYS_INLINE V load_weights(const Weight* w) {
    if constexpr (std::is_same_v<Weight, std::uint16_t>) {
        constexpr int lanes = sizeof(V) / sizeof(float);
        typedef std::uint16_t Halves __attribute__((vector_size(2 * lanes)));
        typedef std::uint32_t Words __attribute__((vector_size(4 * lanes)));
        const Words words = __builtin_convertvector(load_lanes<Halves>(w), Words) << 16;
        V v;
        __builtin_memcpy(&v, &words, sizeof(V));
        return v;
    } else {
        return load_lanes<V>(w);
    }
}

// Widens one weight for the scalar tail.
template <class Real, class Weight>
STRUCTSEQ_ALWAYS_INLINE Real weight_value(Weight w) {
    if constexpr (std::is_same_v<Weight, std::uint16_t>) {
        return bfloat16_to_float(w);
    } else {
        return w;
    }
}

// How far ahead of its loads the float32 product asks for W's lines, into the level-2 cache. The
// hardware prefetcher stops at every 4 KiB page and ramps up again after it; on the Zen 4 machine
// of docs/benchmarks.md, 2 KiB ahead read float32 weights 5–20 % faster than none, 8 KiB ahead
// slower than none. bfloat16 weights read 40 % slower with it, at 1, 2 or 4 KiB and whatever the
// cache level asked for, so they (and float64, not measured) are left to the hardware.
constexpr std::int64_t kPrefetchBytes = 2048;

// Rows [begin, end) of y = β·y + W·x; β = 0 never reads y, which may be uninitialized. One row
// at a time with two 64-byte accumulators (two FMA chains in flight). Short rows lose a little to
// the per-row reduction, but four rows side by side were slower still, even for short rows.
template <class Real, class Weight>
STRUCTSEQ_ALWAYS_INLINE void gemv_rows(const Weight* W, const Real* x, Real* y, std::int64_t begin,
                                       std::int64_t end, std::int64_t in, Real beta) {
    constexpr int lanes = 64 / static_cast<int>(sizeof(Real));
    using V = LaneVector<Real, lanes>;
    for (std::int64_t r = begin; r < end; ++r) {
        const Weight* w = W + r * in;
        V even = {}, odd = {};
        std::int64_t k = 0;
        for (; k + 2 * lanes <= in; k += 2 * lanes) {
            if constexpr (std::is_same_v<Weight, float>) {
                // An address, not a pointer: past W's last row it points at nothing (a prefetch
                // never faults).
                const std::uintptr_t ahead =
                    reinterpret_cast<std::uintptr_t>(w + k) + kPrefetchBytes;
                for (int line = 0; line < 2 * 64; line += 64) {  // the step's two vectors
                    __builtin_prefetch(reinterpret_cast<const void*>(ahead + line), 0, 2);  // L2
                }
            }
            even += load_weights<V>(w + k) * load_lanes<V>(x + k);
            odd += load_weights<V>(w + k + lanes) * load_lanes<V>(x + k + lanes);
        }
        if (k + lanes <= in) {
            even += load_weights<V>(w + k) * load_lanes<V>(x + k);
            k += lanes;
        }
        Real sum = lane_sum(even + odd);
        for (; k < in; ++k) sum += weight_value<Real>(w[k]) * x[k];
        y[r] = (beta != 0 ? beta * y[r] : Real(0)) + sum;
    }
}

template <class Weight, class Real>
void gemv_threaded(const Weight* W, const Real* x, Real* y, std::int64_t rows, std::int64_t in,
                   Real beta) {
    const int threads = streaming_threads(rows * in);
    if (threads == 1) {
        streaming_gemv_rows(W, x, y, 0, rows, in, beta);
        return;
    }
    RowShares shares(0, rows, threads,
                     RowShares::block_rows(in * static_cast<std::int64_t>(sizeof(Weight))));
#pragma omp parallel num_threads(threads)
    {
        const int part = omp_get_thread_num();
        for (RowShares::Rows r = shares.next(part); !r.empty(); r = shares.next(part)) {
            streaming_gemv_rows(W, x, y, r.first, r.last, in, beta);
        }
    }
}

}  // namespace

int streaming_threads(std::int64_t weights) {
    return weights < (std::int64_t{1} << 15) ? 1 : num_threads();
}

// The clones sit below the parallel regions: GCC outlines an OpenMP region into a function of
// its own, compiled for the baseline target whatever the enclosing function's clone.
STRUCTSEQ_CPU_CLONES void streaming_gemv_rows(const float* W, const float* x, float* y,
                                              std::int64_t begin, std::int64_t end, std::int64_t in,
                                              float beta) {
    gemv_rows(W, x, y, begin, end, in, beta);
}

STRUCTSEQ_CPU_CLONES void streaming_gemv_rows(const double* W, const double* x, double* y,
                                              std::int64_t begin, std::int64_t end, std::int64_t in,
                                              double beta) {
    gemv_rows(W, x, y, begin, end, in, beta);
}

STRUCTSEQ_CPU_CLONES void streaming_gemv_rows(const std::uint16_t* W, const float* x, float* y,
                                              std::int64_t begin, std::int64_t end, std::int64_t in,
                                              float beta) {
    gemv_rows(W, x, y, begin, end, in, beta);
}

void streaming_gemv(const float* W, const float* x, float* y, std::int64_t rows, std::int64_t in,
                    float beta) {
    gemv_threaded(W, x, y, rows, in, beta);
}

void streaming_gemv(const double* W, const double* x, double* y, std::int64_t rows, std::int64_t in,
                    double beta) {
    gemv_threaded(W, x, y, rows, in, beta);
}

void streaming_gemv(const std::uint16_t* W, const float* x, float* y, std::int64_t rows,
                    std::int64_t in, float beta) {
    gemv_threaded(W, x, y, rows, in, beta);
}

}  // namespace structseq
