#pragma once
// Counter-based random numbers (Philox4x32-10, Salmon et al., SC'11 "Parallel random numbers:
// as easy as 1, 2, 3"). Element i of a draw is a pure function of (seed, stream, offset + i), so
// a tensor gets the same bits whatever the number of threads that fill it, and a draw of 2n
// values equals two consecutive draws of n. Normals use Box–Muller in float64 (two per Philox
// block), so float32 normals are exactly the float64 normals of the same seed, rounded.

#include "structseq/core/tensor.h"

#include <array>
#include <cstdint>
#include <vector>

namespace structseq {

// One Philox4x32-10 block: 4 random words for a 128-bit counter and a 64-bit key.
std::array<std::uint32_t, 4> philox4x32(std::array<std::uint32_t, 4> counter,
                                        std::array<std::uint32_t, 2> key);

class Rng {
public:
    explicit Rng(std::uint64_t seed, std::uint64_t stream = 0) : seed_(seed), stream_(stream) {}

    // Fill a contiguous float32/float64 tensor; the offset advances by its element count.
    void normal(Tensor& out, double mean = 0.0, double stddev = 1.0);
    void uniform(Tensor& out, double low = 0.0, double high = 1.0);  // values in [low, high)

    Tensor normal(const Shape& shape, DType dtype, double mean = 0.0, double stddev = 1.0);
    Tensor uniform(const Shape& shape, DType dtype, double low = 0.0, double high = 1.0);

    // One float64 uniform in [0, 1): the next element of a float64 uniform draw.
    double uniform();
    // A uniformly random permutation of 0 … n−1 (Fisher–Yates over n − 1 uniform() draws).
    std::vector<std::int64_t> permutation(std::int64_t n);

    std::uint64_t seed() const { return seed_; }
    std::uint64_t stream() const { return stream_; }
    std::uint64_t offset() const { return offset_; }
    void set_offset(std::uint64_t offset) { offset_ = offset; }

private:
    std::uint64_t seed_;
    std::uint64_t stream_;
    std::uint64_t offset_ = 0;
};

}  // namespace structseq
