#include "structseq/core/rng.h"

#include "structseq/core/threads.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

namespace structseq {

namespace {

constexpr std::uint32_t kPhiloxM0 = 0xD2511F53u;
constexpr std::uint32_t kPhiloxM1 = 0xCD9E8D57u;
constexpr std::uint32_t kPhiloxW0 = 0x9E3779B9u;
constexpr std::uint32_t kPhiloxW1 = 0xBB67AE85u;

// The 4 words of Philox block `block`: counter = (block, stream), key = seed.
std::array<std::uint32_t, 4> block_words(std::uint64_t seed, std::uint64_t stream,
                                         std::uint64_t block) {
    return philox4x32(
        {static_cast<std::uint32_t>(block), static_cast<std::uint32_t>(block >> 32),
         static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32)},
        {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)});
}

// Uniform in [0, 1) with 53 random bits.
double unit_double(std::uint32_t hi, std::uint32_t lo) {
    const std::uint64_t bits = ((static_cast<std::uint64_t>(hi) << 32) | lo) >> 11;
    return static_cast<double>(bits) * 0x1.0p-53;
}

// Uniform in [0, 1) with 24 random bits, exactly representable in float.
float unit_float(std::uint32_t word) {
    return static_cast<float>(word >> 8) * 0x1.0p-24f;
}

// Element i of a draw is value j = i mod K of block i / K, where one Philox block yields K values
// (`make_values(words)`); blocks are independent, so any split over threads gives the same bits.
template <class T, std::size_t K, class MakeValues>
void fill_blocks(Tensor& out, std::uint64_t& offset, MakeValues&& make_values) {
    out.check_contiguous("Rng", "out");
    T* data = out.data<T>();
    const auto n = static_cast<std::uint64_t>(out.numel());
    const std::uint64_t base = offset;
    const std::uint64_t first = base / K;
    const auto blocks = static_cast<std::int64_t>((base + n + K - 1) / K - first);
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (n > 16384)
    for (std::int64_t b = 0; b < blocks; ++b) {
        const std::uint64_t block = first + static_cast<std::uint64_t>(b);
        const std::array<T, K> values = make_values(block);
        for (std::size_t j = 0; j < K; ++j) {
            const std::uint64_t element = block * K + j;
            if (element >= base && element < base + n) data[element - base] = values[j];
        }
    }
    offset += n;
}

void check_real_float(const Tensor& out, const char* where) {
    if (!out.defined() || (out.dtype() != DType::F32 && out.dtype() != DType::F64)) {
        fail_argument(where, "out",
                      out.defined() ? std::string(dtype_name(out.dtype())) : "undefined",
                      "a float32 or float64 tensor");
    }
}

}  // namespace

std::array<std::uint32_t, 4> philox4x32(std::array<std::uint32_t, 4> c,
                                        std::array<std::uint32_t, 2> k) {
    for (int round = 0; round < 10; ++round) {
        const std::uint64_t p0 = static_cast<std::uint64_t>(kPhiloxM0) * c[0];
        const std::uint64_t p1 = static_cast<std::uint64_t>(kPhiloxM1) * c[2];
        c = {static_cast<std::uint32_t>(p1 >> 32) ^ c[1] ^ k[0], static_cast<std::uint32_t>(p1),
             static_cast<std::uint32_t>(p0 >> 32) ^ c[3] ^ k[1], static_cast<std::uint32_t>(p0)};
        k[0] += kPhiloxW0;
        k[1] += kPhiloxW1;
    }
    return c;
}

// Box–Muller: a block gives two 53-bit uniforms u1, u2 and the pair
// r·cos(2π u2), r·sin(2π u2) with r = sqrt(-2 ln(1 - u1)).
void Rng::normal(Tensor& out, double mean, double stddev) {
    check_real_float(out, "Rng::normal");
    check_argument(std::isfinite(mean), "Rng::normal", "mean", fmt::format("{}", mean),
                   "a finite number");
    check_argument(std::isfinite(stddev) && stddev >= 0, "Rng::normal", "stddev",
                   fmt::format("{}", stddev), "a finite number >= 0");
    auto pair = [&](std::uint64_t block) {
        const auto w = block_words(seed_, stream_, block);
        const double r = std::sqrt(-2.0 * std::log1p(-unit_double(w[0], w[1])));
        const double angle = 2.0 * std::numbers::pi * unit_double(w[2], w[3]);
        return std::array<double, 2>{mean + stddev * r * std::cos(angle),
                                     mean + stddev * r * std::sin(angle)};
    };
    if (out.dtype() == DType::F32) {
        fill_blocks<float, 2>(out, offset_, [&](std::uint64_t block) {
            const auto z = pair(block);
            return std::array<float, 2>{static_cast<float>(z[0]), static_cast<float>(z[1])};
        });
    } else {
        fill_blocks<double, 2>(out, offset_, pair);
    }
}

// float32: four 24-bit uniforms per block; float64: two 53-bit uniforms per block.
// Rounding of low + (high - low)·u can reach `high`; such values step back below it.
void Rng::uniform(Tensor& out, double low, double high) {
    check_real_float(out, "Rng::uniform");
    check_argument(std::isfinite(low) && std::isfinite(high) && low < high, "Rng::uniform",
                   "(low, high)", fmt::format("({}, {})", low, high),
                   "finite numbers with low < high");
    if (out.dtype() == DType::F32) {
        const float lo = static_cast<float>(low);
        const float hi = static_cast<float>(high);
        fill_blocks<float, 4>(out, offset_, [&](std::uint64_t block) {
            const auto w = block_words(seed_, stream_, block);
            std::array<float, 4> values{};
            for (std::size_t j = 0; j < 4; ++j) {
                const float value = lo + (hi - lo) * unit_float(w[j]);
                values[j] = value < hi ? value : std::nextafter(hi, lo);
            }
            return values;
        });
    } else {
        fill_blocks<double, 2>(out, offset_, [&](std::uint64_t block) {
            const auto w = block_words(seed_, stream_, block);
            std::array<double, 2> values{};
            for (std::size_t j = 0; j < 2; ++j) {
                const double value = low + (high - low) * unit_double(w[2 * j], w[2 * j + 1]);
                values[j] = value < high ? value : std::nextafter(high, low);
            }
            return values;
        });
    }
}

double Rng::uniform() {
    Tensor one = Tensor::empty({1}, DType::F64);
    uniform(one);
    return one.data<double>()[0];
}

std::vector<std::int64_t> Rng::permutation(std::int64_t n) {
    check_argument(n >= 0, "Rng::permutation", "n", std::to_string(n), "n >= 0");
    std::vector<std::int64_t> order(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
    if (n < 2) return order;
    // The n − 1 draws at once: the same values as n − 1 single uniform() calls.
    Tensor draws = Tensor::empty({n - 1}, DType::F64);
    uniform(draws);
    const double* u = draws.data<double>();
    for (std::int64_t i = n - 1, k = 0; i > 0; --i, ++k) {
        const auto j = std::min(i, static_cast<std::int64_t>(u[k] * static_cast<double>(i + 1)));
        std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
    }
    return order;
}

Tensor Rng::normal(const Shape& shape, DType dtype, double mean, double stddev) {
    Tensor out = Tensor::empty(shape, dtype);
    normal(out, mean, stddev);
    return out;
}

Tensor Rng::uniform(const Shape& shape, DType dtype, double low, double high) {
    Tensor out = Tensor::empty(shape, dtype);
    uniform(out, low, high);
    return out;
}

}  // namespace structseq
