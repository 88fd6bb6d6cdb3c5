#include "structseq/core/float16.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace structseq
