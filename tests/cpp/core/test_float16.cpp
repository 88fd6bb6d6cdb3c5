#include "structseq/core/float16.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>

namespace structseq {
namespace {

// Reference: value = (-1)^s · 2^(e-15) · (1 + m/1024), subnormals 2^-14 · m/1024.
double float16_reference(std::uint16_t bits) {
    const int sign = bits >> 15 ? -1 : 1;
    const int exponent = (bits >> 10) & 0x1F;
    const int mantissa = bits & 0x3FF;
    if (exponent == 0x1F) {
        return mantissa ? std::numeric_limits<double>::quiet_NaN()
                        : sign * std::numeric_limits<double>::infinity();
    }
    if (exponent == 0) return sign * std::ldexp(mantissa / 1024.0, -14);
    return sign * std::ldexp(1.0 + mantissa / 1024.0, exponent - 15);
}

TEST(Float16, EveryBitPatternMatchesTheDefinition) {
    for (std::uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
        const double want = float16_reference(static_cast<std::uint16_t>(bits));
        const float got = float16_to_float(static_cast<std::uint16_t>(bits));
        if (std::isnan(want)) {
            ASSERT_TRUE(std::isnan(got)) << bits;
        } else {
            ASSERT_EQ(static_cast<double>(got), want) << "bits " << bits;
            ASSERT_EQ(std::signbit(got), (bits & 0x8000) != 0) << bits;
        }
    }
}

TEST(BFloat16, IsTheHighHalfOfAFloat) {
    EXPECT_EQ(bfloat16_to_float(0x3F80), 1.0f);
    EXPECT_EQ(bfloat16_to_float(0xC040), -3.0f);
    EXPECT_TRUE(std::isinf(bfloat16_to_float(0x7F80)));
}

// float → bfloat16 against the definition: of the two bfloat16 values around x (the truncation
// toward zero and the next one away from zero), the nearer one in exact arithmetic, ties to the
// even mantissa. Every 251st float32 bit pattern, finite ones only; then the special values.
TEST(BFloat16, RoundsFloatsToNearestEven) {
    for (std::uint64_t pattern = 0; pattern <= 0xFFFFFFFFu; pattern += 251) {
        const auto bits = static_cast<std::uint32_t>(pattern);
        const float x = std::bit_cast<float>(bits);
        if (!std::isfinite(x)) continue;
        const auto toward_zero = static_cast<std::uint16_t>(bits >> 16);
        const auto away = static_cast<std::uint16_t>(toward_zero + 1);
        const double low = bfloat16_to_float(toward_zero);
        const double high = (away & 0x7FFF) == 0x7F80 ? std::ldexp(std::copysign(1.0, x), 128)
                                                      : bfloat16_to_float(away);
        const double below = std::abs(x - low), above = std::abs(high - x);
        const std::uint16_t want =
            below < above || (below == above && (toward_zero & 1) == 0) ? toward_zero : away;
        ASSERT_EQ(float_to_bfloat16(x), want) << "float bits " << bits;
    }
    EXPECT_EQ(float_to_bfloat16(1.0f), 0x3F80);
    EXPECT_EQ(float_to_bfloat16(std::numeric_limits<float>::infinity()), 0x7F80);
    EXPECT_EQ(float_to_bfloat16(-std::numeric_limits<float>::max()), 0xFF80);  // overflows
    const std::uint16_t nan = float_to_bfloat16(-std::numeric_limits<float>::quiet_NaN());
    EXPECT_TRUE(std::isnan(bfloat16_to_float(nan)));
    EXPECT_EQ(nan & 0x8000, 0x8000);
    // A signalling NaN whose payload sits in the low half only must not become infinity.
    EXPECT_TRUE(
        std::isnan(bfloat16_to_float(float_to_bfloat16(std::bit_cast<float>(0x7F800001u)))));
}

}  // namespace
}  // namespace structseq
