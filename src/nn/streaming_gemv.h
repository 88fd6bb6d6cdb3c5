#pragma once
// y = β·y + W·x for one input row (a token in generation), W (rows, in) row-major. Memory-bound:
// the kernel's only job is to read W at the machine's streaming bandwidth. It reads W one row at
// a time, front to back, so that each thread is a single sequential stream: on some CPUs (AMD
// Zen 4 measured) a GEMV that walks four or eight rows side by side, as OpenBLAS's does, reaches
// half the bandwidth of one stream. float32 rows are prefetched 2 KiB ahead, across the 4 KiB
// page boundaries where the hardware prefetcher stops. Threads take contiguous row ranges and
// then the rest of the slower one's (nn/row_shares.h); small products run on one thread
// (streaming_threads).

#include <cstdint>

namespace structseq {

void streaming_gemv(const float* W, const float* x, float* y, std::int64_t rows, std::int64_t in,
                    float beta);
void streaming_gemv(const double* W, const double* x, double* y, std::int64_t rows, std::int64_t in,
                    double beta);
// W in bfloat16 (core/float16.h): half the bytes of float32, widened in registers; float32 sums.
void streaming_gemv(const std::uint16_t* W, const float* x, float* y, std::int64_t rows,
                    std::int64_t in, float beta);

// The threads for a product of `weights` weights: one below 2^15, where a fork and join cost more
// than the product, else num_threads().
int streaming_threads(std::int64_t weights);

// Rows [begin, end) of the same product on the calling thread: a part of a product that the
// caller's own parallel region shares out.
void streaming_gemv_rows(const float* W, const float* x, float* y, std::int64_t begin,
                         std::int64_t end, std::int64_t in, float beta);
void streaming_gemv_rows(const double* W, const double* x, double* y, std::int64_t begin,
                         std::int64_t end, std::int64_t in, double beta);
void streaming_gemv_rows(const std::uint16_t* W, const float* x, float* y, std::int64_t begin,
                         std::int64_t end, std::int64_t in, float beta);

}  // namespace structseq
