#pragma once
// exp, log and softplus of eight float64 lanes, and exp and softplus of sixteen float32 lanes, with
// plain vector arithmetic (no libm call), so that the loops of the selective scans stay vectorized.
// exp: x = k ln 2 + r with k = round(x / ln 2) and |r| ≤ ln 2 / 2, ln 2 split as
// 0x1.62e42feep-1 (trailing zeros, so k·ln2_hi is exact) plus 1.9e-10; e^r by its degree-12
// Taylor polynomial (truncation < 2e-17 relative), times 2^k built in the exponent bits.
// Arguments are clamped to [−708, 709]: below, the result is ≤ 3e−308 (no subnormals); above,
// it saturates near 8e307 instead of +inf. Within 4 ulp of std::exp (tested).

#include "structseq/core/lane_vector.h"

#include <cstdint>

namespace structseq::ssm_detail {

using Lanes8 = LaneVector<double, 8>;

STRUCTSEQ_ALWAYS_INLINE Lanes8 lane_exp(Lanes8 x) {
    typedef std::int64_t Bits8 __attribute__((vector_size(64)));
    const Lanes8 lo = Lanes8{} - 708.0, hi = Lanes8{} + 709.0;
    x = x < lo ? lo : x;
    x = x > hi ? hi : x;
    // k = round(x / ln 2) by the 1.5 · 2^52 trick: its low bits then hold k.
    constexpr double kMagic = 6755399441055744.0;  // 1.5 · 2^52
    const Lanes8 shifted = x * 1.4426950408889634 + kMagic;
    const Lanes8 k = shifted - kMagic;
    const Lanes8 r = (x - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10;
    Lanes8 p = Lanes8{} + 1.0 / 479001600.0;  // 1/12!
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    Bits8 bits;
    __builtin_memcpy(&bits, &shifted, sizeof(bits));
    // shifted's mantissa holds k + 2^51 (from the magic); k + 1023 into the exponent field.
    const Bits8 exponent = ((bits - Bits8{} - (std::int64_t{1} << 51)) + 1023) << 52;
    Lanes8 scale;
    __builtin_memcpy(&scale, &exponent, sizeof(scale));
    return p * scale;
}

using Lanes16f = LaneVector<float, 16>;

// exp of sixteen float32 lanes, the same reduction in single precision: ln 2 split as
// 0.693359375 (exact times k) − 2.12194440e-4, e^r = 1 + r + r² p(r) with Cephes' degree-5 p
// (expf's coefficients). Arguments clamped to [−87, 88], where the result stays a normal float.
// Within 2 ulp of std::exp (tested).
STRUCTSEQ_ALWAYS_INLINE Lanes16f lane_exp(Lanes16f x) {
    typedef std::int32_t Bits16 __attribute__((vector_size(64)));
    const Lanes16f lo = Lanes16f{} - 87.0f, hi = Lanes16f{} + 88.0f;
    x = x < lo ? lo : x;
    x = x > hi ? hi : x;
    constexpr float kMagic = 12582912.0f;  // 1.5 · 2^23
    const Lanes16f shifted = x * 1.44269504088896341f + kMagic;
    const Lanes16f k = shifted - kMagic;
    const Lanes16f r = (x - k * 0.693359375f) + k * 2.12194440e-4f;
    Lanes16f p = Lanes16f{} + 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    Bits16 bits;
    __builtin_memcpy(&bits, &shifted, sizeof(bits));
    // shifted's mantissa holds k + 2^22; k + 127 into the exponent field.
    const Bits16 exponent = ((bits - Bits16{} - (std::int32_t{1} << 22)) + 127) << 23;
    Lanes16f scale;
    __builtin_memcpy(&scale, &exponent, sizeof(scale));
    return p * scale;
}

// σ(x) = 1 / (1 + e^−x), float32 or float64 lanes.
template <class V>
STRUCTSEQ_ALWAYS_INLINE V lane_sigmoid(V x) {
    return 1 / (1 + lane_exp(-x));
}

// log of eight positive float64 lanes: x = m · 2^e with m ∈ [√½, √2) read from the bits, then
// log m = 2 atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.172, by its series to s²³ (truncation
// < 1e-17). Positive normal inputs only.
STRUCTSEQ_ALWAYS_INLINE Lanes8 lane_log(Lanes8 x) {
    typedef std::int64_t Bits8 __attribute__((vector_size(64)));
    Bits8 bits;
    __builtin_memcpy(&bits, &x, sizeof(bits));
    Bits8 e = ((bits >> 52) & 0x7ff) - 1023;
    Bits8 mantissa_bits = (bits & ((std::int64_t{1} << 52) - 1)) | (std::int64_t{1023} << 52);
    Lanes8 m;
    __builtin_memcpy(&m, &mantissa_bits, sizeof(m));  // m ∈ [1, 2)
    const Bits8 big = m > 1.4142135623730951;         // all ones where true
    m *= big ? Lanes8{} + 0.5 : Lanes8{} + 1.0;
    e -= big;  // big is −1 where true
    const Lanes8 s = (m - 1.0) / (m + 1.0), s2 = s * s;
    Lanes8 series = Lanes8{} + 1.0 / 23;
    for (int k = 21; k >= 1; k -= 2) series = series * s2 + 1.0 / k;
    return 2 * s * series + __builtin_convertvector(e, Lanes8) * 0.6931471805599453;
}

// softplus(x) = log(1 + eˣ) as torch computes it (x above 20 returned as is), with log1p
// accuracy: log(1 + y) = log(u) − ((u − 1) − y)/u for u = 1 + y rounded.
STRUCTSEQ_ALWAYS_INLINE Lanes8 lane_softplus(Lanes8 x) {
    const Lanes8 y = lane_exp(x > 20.0 ? Lanes8{} : x);
    const Lanes8 u = 1.0 + y;
    const Lanes8 log1p = lane_log(u) - ((u - 1.0) - y) / u;
    return x > 20.0 ? x : log1p;
}

// softplus of sixteen float32 lanes in float32, one division: softplus(x) = max(x, 0) +
// log1p(e^−|x|), log1p(y) = 2 atanh(s) with s = y / (2 + y) ∈ (0, 1/3], its series to s¹³
// (truncation < 2e-8 relative); x above 20 returned as is (torch's threshold). Within 4 ulp of
// log1p(exp(x)) down to x = −80 (tested).
STRUCTSEQ_ALWAYS_INLINE Lanes16f lane_softplus(Lanes16f x) {
    typedef std::int32_t Bits16 __attribute__((vector_size(64)));
    Bits16 bits;
    __builtin_memcpy(&bits, &x, sizeof(bits));
    bits &= 0x7fffffff;
    Lanes16f magnitude;
    __builtin_memcpy(&magnitude, &bits, sizeof(magnitude));
    const Lanes16f y = lane_exp(-magnitude);
    const Lanes16f s = y / (2.0f + y), s2 = s * s;
    Lanes16f series = Lanes16f{} + 1.0f / 13;
    for (int k = 11; k >= 1; k -= 2) series = series * s2 + 1.0f / static_cast<float>(k);
    const Lanes16f positive = x > 0.0f ? x : Lanes16f{};
    const Lanes16f value = positive + 2.0f * s * series;
    return x > 20.0f ? x : value;
}

}  // namespace structseq::ssm_detail
