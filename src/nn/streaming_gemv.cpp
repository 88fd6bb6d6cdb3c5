#include "streaming_gemv.h"

#include "structseq/core/cpu_dispatch.h"
#include "structseq/core/lane_vector.h"
#include "structseq/core/threads.h"

namespace structseq {

namespace {

// Rows [begin, end) of y = β·y + W·x; β = 0 never reads y, which may be uninitialized. One row
// at a time with two 64-byte accumulators (two FMA chains in flight). Short rows lose a little to
// the per-row reduction, but four rows side by side measured slower still (1536 × 48: 16 against
// 21 GB/s on one thread).
template <class Real>
STRUCTSEQ_ALWAYS_INLINE void gemv_rows(const Real* W, const Real* x, Real* y, std::int64_t begin,
                                       std::int64_t end, std::int64_t in, Real beta) {
    constexpr int lanes = 64 / static_cast<int>(sizeof(Real));
    using V = LaneVector<Real, lanes>;
    for (std::int64_t r = begin; r < end; ++r) {
        const Real* w = W + r * in;
        V even = {}, odd = {};
        std::int64_t k = 0;
        for (; k + 2 * lanes <= in; k += 2 * lanes) {
            even += load_lanes<V>(w + k) * load_lanes<V>(x + k);
            odd += load_lanes<V>(w + k + lanes) * load_lanes<V>(x + k + lanes);
        }
        if (k + lanes <= in) {
            even += load_lanes<V>(w + k) * load_lanes<V>(x + k);
            k += lanes;
        }
        Real sum = lane_sum(even + odd);
        for (; k < in; ++k) sum += w[k] * x[k];
        y[r] = (beta != 0 ? beta * y[r] : Real(0)) + sum;
    }
}

// The clones sit below the parallel region: GCC outlines an OpenMP region into a function of
// its own, compiled for the baseline target whatever the enclosing function's clone.
STRUCTSEQ_CPU_CLONES void gemv_range(const float* W, const float* x, float* y, std::int64_t begin,
                                     std::int64_t end, std::int64_t in, float beta) {
    gemv_rows(W, x, y, begin, end, in, beta);
}

STRUCTSEQ_CPU_CLONES void gemv_range(const double* W, const double* x, double* y,
                                     std::int64_t begin, std::int64_t end, std::int64_t in,
                                     double beta) {
    gemv_rows(W, x, y, begin, end, in, beta);
}

template <class Real>
void gemv_threaded(const Real* W, const Real* x, Real* y, std::int64_t rows, std::int64_t in,
                   Real beta) {
    const int threads = rows * in < (std::int64_t{1} << 15) ? 1 : num_threads();
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int part = 0; part < threads; ++part) {
        gemv_range(W, x, y, rows * part / threads, rows * (part + 1) / threads, in, beta);
    }
}

}  // namespace

void streaming_gemv(const float* W, const float* x, float* y, std::int64_t rows, std::int64_t in,
                    float beta) {
    gemv_threaded(W, x, y, rows, in, beta);
}

void streaming_gemv(const double* W, const double* x, double* y, std::int64_t rows, std::int64_t in,
                    double beta) {
    gemv_threaded(W, x, y, rows, in, beta);
}

}  // namespace structseq
