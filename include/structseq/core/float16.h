#pragma once
// IEEE binary16 and bfloat16 to float32, exact (every half value is a float value),
// including subnormals, infinities and NaN.

#include <bit>
#include <cstdint>
#include <cstring>

namespace structseq {

inline float bfloat16_to_float(std::uint16_t bits) {
    return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
}

inline float float16_to_float(std::uint16_t bits) {
    const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
    const std::uint32_t exponent = (bits >> 10) & 0x1Fu;
    std::uint32_t mantissa = bits & 0x3FFu;
    if (exponent == 0x1F) return std::bit_cast<float>(sign | 0x7F800000u | (mantissa << 13));
    if (exponent != 0) {
        return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
    }
    if (mantissa == 0) return std::bit_cast<float>(sign);
    // Subnormal: mantissa · 2^-24, normalized into a float32.
    int shift = 0;
    while ((mantissa & 0x400u) == 0) {
        mantissa <<= 1;
        ++shift;
    }
    mantissa &= 0x3FFu;
    return std::bit_cast<float>(sign | static_cast<std::uint32_t>(113 - shift) << 23 |
                                (mantissa << 13));
}

}  // namespace structseq
