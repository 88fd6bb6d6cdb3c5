#include "structseq/core/rng.h"

#include "structseq/core/threads.h"

#include <cmath>
#include <numbers>

namespace structseq {

namespace {

constexpr std::uint32_t kPhiloxM0 = 0xD2511F53u;
constexpr std::uint32_t kPhiloxM1 = 0xCD9E8D57u;
constexpr std::uint32_t kPhiloxW0 = 0x9E3779B9u;
constexpr std::uint32_t kPhiloxW1 = 0xBB67AE85u;

// The words of element `index`: counter = (index, stream), key = seed.
std::array<std::uint32_t, 4> element_words(std::uint64_t seed, std::uint64_t stream,
                                           std::uint64_t index) {
    return philox4x32({static_cast<std::uint32_t>(index), static_cast<std::uint32_t>(index >> 32),
                       static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32)},
                      {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)});
}

// Uniform in [0, 1) with 53 random bits.
double unit_double(std::uint32_t hi, std::uint32_t lo) {
    const std::uint64_t bits = ((static_cast<std::uint64_t>(hi) << 32) | lo) >> 11;
    return static_cast<double>(bits) * 0x1.0p-53;
}

// Uniform in [0, 1) with 24 random bits, exactly representable in float.
float unit_float(std::uint32_t word) { return static_cast<float>(word >> 8) * 0x1.0p-24f; }

template <class T, class Draw> void fill(Tensor& out, std::uint64_t& offset, Draw&& draw) {
    out.check_contiguous("Rng", "out");
    T* data = out.data<T>();
    const std::int64_t n = out.numel();
    const std::uint64_t base = offset;
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (n > 16384)
    for (std::int64_t i = 0; i < n; ++i) {
        data[i] = draw(base + static_cast<std::uint64_t>(i));
    }
    offset += static_cast<std::uint64_t>(n);
}

void check_real_float(const Tensor& out, const char* where) {
    if (!out.defined() || (out.dtype() != DType::F32 && out.dtype() != DType::F64)) {
        fail_argument(where, "out", out.defined() ? std::string(dtype_name(out.dtype())) : "undefined",
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

// Box–Muller on two 53-bit uniforms per element: z = sqrt(-2 ln(1 - u1)) cos(2π u2).
void Rng::normal(Tensor& out, double mean, double stddev) {
    check_real_float(out, "Rng::normal");
    check_argument(std::isfinite(mean), "Rng::normal", "mean", fmt::format("{}", mean),
                   "a finite number");
    check_argument(std::isfinite(stddev) && stddev >= 0, "Rng::normal", "stddev",
                   fmt::format("{}", stddev), "a finite number >= 0");
    auto draw = [&](std::uint64_t index) {
        const auto w = element_words(seed_, stream_, index);
        const double u1 = unit_double(w[0], w[1]);
        const double u2 = unit_double(w[2], w[3]);
        const double z = std::sqrt(-2.0 * std::log1p(-u1)) * std::cos(2.0 * std::numbers::pi * u2);
        return mean + stddev * z;
    };
    if (out.dtype() == DType::F32) {
        fill<float>(out, offset_, [&](std::uint64_t i) { return static_cast<float>(draw(i)); });
    } else {
        fill<double>(out, offset_, draw);
    }
}

void Rng::uniform(Tensor& out, double low, double high) {
    check_real_float(out, "Rng::uniform");
    check_argument(std::isfinite(low) && std::isfinite(high) && low < high, "Rng::uniform",
                   "(low, high)", fmt::format("({}, {})", low, high), "finite numbers with low < high");
    if (out.dtype() == DType::F32) {
        const float lo = static_cast<float>(low);
        const float hi = static_cast<float>(high);
        fill<float>(out, offset_, [&](std::uint64_t i) {
            const float u = unit_float(element_words(seed_, stream_, i)[0]);
            const float value = lo + (hi - lo) * u;
            return value < hi ? value : std::nextafter(hi, lo);  // rounding must not reach high
        });
    } else {
        fill<double>(out, offset_, [&](std::uint64_t i) {
            const auto w = element_words(seed_, stream_, i);
            const double value = low + (high - low) * unit_double(w[0], w[1]);
            return value < high ? value : std::nextafter(high, low);
        });
    }
}

Tensor Rng::normal(const Shape& shape, DType dtype, double mean, double stddev) {
    Tensor out(shape, dtype);
    normal(out, mean, stddev);
    return out;
}

Tensor Rng::uniform(const Shape& shape, DType dtype, double low, double high) {
    Tensor out(shape, dtype);
    uniform(out, low, high);
    return out;
}

}  // namespace structseq
