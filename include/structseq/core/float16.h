#pragma once
// IEEE binary16 and bfloat16 to float32, exact (every half value is a float value),
// including subnormals, infinities and NaN; float32 to bfloat16, rounded to nearest even.

#include <bit>
#include <cstdint>
#include <cstring>

namespace structseq {

inline float bfloat16_to_float(std::uint16_t bits) {
    return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
}

// Rounds to the nearest bfloat16, ties to even (as PyTorch's .to(torch.bfloat16)); values past
// the largest finite bfloat16 round to ±infinity, a NaN stays a (quiet) NaN of the same sign.
inline std::uint16_t float_to_bfloat16(float value) {
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);
    const std::uint32_t rounding = 0x7FFFu + ((bits >> 16) & 1u);
    return static_cast<std::uint16_t>((bits + rounding) >> 16);
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
