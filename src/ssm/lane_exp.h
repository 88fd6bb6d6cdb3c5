#pragma once
// exp, 2^x, log, softplus and sigmoid of lane vectors (lane_vector.h) of float64 or float32, with
// plain vector arithmetic (no libm call), so that the loops of the selective scans stay
// vectorized. Each function takes any lane vector of its element type: 8 float64 or 16 float32
// lanes fill one 64-byte vector, and wider ones (two such vectors) interleave two independent
// chains of the same operations.

#include "structseq/core/lane_vector.h"

#include <cstdint>
#include <type_traits>

namespace structseq::ssm_detail {

using Lanes8 = LaneVector<double, 8>;
using Lanes16f = LaneVector<float, 16>;

template <class V>
using LaneElement = std::remove_cvref_t<decltype(V{}[0])>;
template <class V>
concept Float64Lanes = std::is_same_v < LaneElement<V>,
double > ;
template <class V>
concept Float32Lanes = std::is_same_v < LaneElement<V>,
float > ;

// The integer lanes of V's width (int64 for float64, int32 for float32), for bit manipulation.
template <class V>
struct LaneBitsOf {
    using Element = std::conditional_t<Float64Lanes<V>, std::int64_t, std::int32_t>;
    typedef Element type __attribute__((vector_size(sizeof(V))));
};
template <class V>
using LaneBits = typename LaneBitsOf<V>::type;

template <class To, class From>
STRUCTSEQ_ALWAYS_INLINE To bit_cast_lanes(From from) {
    static_assert(sizeof(To) == sizeof(From));
    To to;
    __builtin_memcpy(&to, &from, sizeof(To));
    return to;
}

// float64 exp: x = k ln 2 + r with k = round(x / ln 2) and |r| ≤ ln 2 / 2, ln 2 split as
// 0x1.62e42feep-1 (trailing zeros, so k·ln2_hi is exact) plus 1.9e-10; e^r by its degree-12
// Taylor polynomial (truncation < 2e-17 relative), times 2^k built in the exponent bits.
// Arguments are clamped to [−708, 709]: below, the result is ≤ 3e−308 (no subnormals); above,
// it saturates near 8e307 instead of +inf. Within 4 ulp of std::exp (tested).
template <Float64Lanes V>
STRUCTSEQ_ALWAYS_INLINE V lane_exp(V x) {
    using Bits = LaneBits<V>;
    const V lo = V{} - 708.0, hi = V{} + 709.0;
    x = x < lo ? lo : x;
    x = x > hi ? hi : x;
    // k = round(x / ln 2) by the 1.5 · 2^52 trick: its low bits then hold k.
    constexpr double kMagic = 6755399441055744.0;  // 1.5 · 2^52
    const V shifted = x * 1.4426950408889634 + kMagic;
    const V k = shifted - kMagic;
    const V r = (x - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10;
    V p = V{} + 1.0 / 479001600.0;  // 1/12!
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
    // shifted's mantissa holds k + 2^51 (from the magic); k + 1023 into the exponent field.
    const Bits bits = bit_cast_lanes<Bits>(shifted);
    const Bits exponent = ((bits - Bits{} - (std::int64_t{1} << 51)) + 1023) << 52;
    return p * bit_cast_lanes<V>(exponent);
}

// float32 exp, the same reduction in single precision: ln 2 split as 0.693359375 (exact times
// k) − 2.12194440e-4, e^r = 1 + r + r² p(r) with Cephes' degree-5 p (expf's coefficients).
// Arguments clamped to [−87, 88], where the result stays a normal float. Within 2 ulp of
// std::exp (tested).
template <Float32Lanes V>
STRUCTSEQ_ALWAYS_INLINE V lane_exp(V x) {
    using Bits = LaneBits<V>;
    const V lo = V{} - 87.0f, hi = V{} + 88.0f;
    x = x < lo ? lo : x;
    x = x > hi ? hi : x;
    constexpr float kMagic = 12582912.0f;  // 1.5 · 2^23
    const V shifted = x * 1.44269504088896341f + kMagic;
    const V k = shifted - kMagic;
    const V r = (x - k * 0.693359375f) + k * 2.12194440e-4f;
    V p = V{} + 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    // shifted's mantissa holds k + 2^22; k + 127 into the exponent field.
    const Bits bits = bit_cast_lanes<Bits>(shifted);
    const Bits exponent = ((bits - Bits{} - (std::int32_t{1} << 22)) + 127) << 23;
    return p * bit_cast_lanes<V>(exponent);
}

// float32 2^t with t ∈ [−125.5, 127] (not checked), the scan's decay exp(Δ·A) as
// 2^(Δ·A·log₂e) with A·log₂e formed once: k = round(t) by the 1.5 · 2^23 trick with 127 added,
// so that the sum's low bits shifted left by 23 are the float 2^k; f = t − k ∈ [−½, ½] exactly;
// 2^f by a degree-6 polynomial fitted for relative error (2.6e-9). Eleven vector operations,
// half of lane_exp's; within 2 ulp of std::exp2 (tested).
template <Float32Lanes V>
STRUCTSEQ_ALWAYS_INLINE V lane_exp2_in_range(V t) {
    using Bits = LaneBits<V>;
    constexpr float kMagic = 12582912.0f + 127.0f;  // 1.5 · 2^23 + exponent bias
    const V shifted = t + kMagic;
    const V f = t - (shifted - kMagic);
    V p = V{} + 1.534581243e-4f;
    p = p * f + 1.339993090e-3f;
    p = p * f + 9.618489072e-3f;
    p = p * f + 5.550328642e-2f;
    p = p * f + 2.402264625e-1f;
    p = p * f + 6.931471825e-1f;
    p = p * f + 1.0f;
    // k + 127 into the exponent field; the trick's 2^22 bit falls off the top.
    return p * bit_cast_lanes<V>(bit_cast_lanes<Bits>(shifted) << 23);
}

// float32 2^t for any t: clamped to [−125.5, 127] first, where the result stays a normal float.
template <Float32Lanes V>
STRUCTSEQ_ALWAYS_INLINE V lane_exp2(V t) {
    const V lo = V{} - 125.5f, hi = V{} + 127.0f;
    t = t < lo ? lo : t;
    t = t > hi ? hi : t;
    return lane_exp2_in_range(t);
}

// float64 2^t as e^(t ln 2): the float64 scan keeps lane_exp's precision.
template <Float64Lanes V>
STRUCTSEQ_ALWAYS_INLINE V lane_exp2(V t) {
    return lane_exp(t * 0.6931471805599453);
}
template <Float64Lanes V>
STRUCTSEQ_ALWAYS_INLINE V lane_exp2_in_range(V t) {
    return lane_exp2(t);
}

// σ(x) = 1 / (1 + e^−x).
template <class V>
STRUCTSEQ_ALWAYS_INLINE V lane_sigmoid(V x) {
    return 1 / (1 + lane_exp(-x));
}

// float64 log of positive normal lanes: x = m · 2^e with m ∈ [√½, √2) read from the bits, then
// log m = 2 atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.172, by its series to s²³ (truncation
// < 1e-17).
template <Float64Lanes V>
STRUCTSEQ_ALWAYS_INLINE V lane_log(V x) {
    using Bits = LaneBits<V>;
    const Bits bits = bit_cast_lanes<Bits>(x);
    Bits e = ((bits >> 52) & 0x7ff) - 1023;
    V m = bit_cast_lanes<V>((bits & ((std::int64_t{1} << 52) - 1)) |
                            (std::int64_t{1023} << 52));  // m ∈ [1, 2)
    const Bits big = m > 1.4142135623730951;              // all ones where true
    m *= big ? V{} + 0.5 : V{} + 1.0;
    e -= big;  // big is −1 where true
    const V s = (m - 1.0) / (m + 1.0), s2 = s * s;
    V series = V{} + 1.0 / 23;
    for (int k = 21; k >= 1; k -= 2) series = series * s2 + 1.0 / k;
    return 2 * s * series + __builtin_convertvector(e, V) * 0.6931471805599453;
}

// float64 softplus(x) = log(1 + eˣ) as torch computes it (x above 20 returned as is), with
// log1p accuracy: log(1 + y) = log(u) − ((u − 1) − y)/u for u = 1 + y rounded.
template <Float64Lanes V>
STRUCTSEQ_ALWAYS_INLINE V lane_softplus(V x) {
    const V y = lane_exp(x > 20.0 ? V{} : x);
    const V u = 1.0 + y;
    const V log1p = lane_log(u) - ((u - 1.0) - y) / u;
    return x > 20.0 ? x : log1p;
}

// float32 softplus in float32, one division: softplus(x) = max(x, 0) + log1p(e^−|x|),
// log1p(y) = 2 atanh(s) with s = y / (2 + y) ∈ (0, 1/3], its series to s¹³ (truncation < 2e-8
// relative); x above 20 returned as is (torch's threshold). Within 4 ulp of log1p(exp(x)) down
// to x = −80 (tested).
template <Float32Lanes V>
STRUCTSEQ_ALWAYS_INLINE V softplus_given(V x, V y) {  // y = e^−|x|
    const V s = y / (2.0f + y), s2 = s * s;
    V series = V{} + 1.0f / 13;
    for (int k = 11; k >= 1; k -= 2) series = series * s2 + 1.0f / static_cast<float>(k);
    const V positive = x > 0.0f ? x : V{};
    const V value = positive + 2.0f * s * series;
    return x > 20.0f ? x : value;
}
template <Float32Lanes V>
STRUCTSEQ_ALWAYS_INLINE V exp_of_minus_magnitude(V x) {
    return lane_exp(-bit_cast_lanes<V>(bit_cast_lanes<LaneBits<V>>(x) & 0x7fffffff));
}
template <Float32Lanes V>
STRUCTSEQ_ALWAYS_INLINE V lane_softplus(V x) {
    return softplus_given(x, exp_of_minus_magnitude(x));
}

// softplus(x), and its derivative σ(x) into `slope`. float32 shares softplus's y = e^−|x|:
// σ(x) = 1/(1 + y) for x ≥ 0 and y/(1 + y) below.
template <Float32Lanes V>
STRUCTSEQ_ALWAYS_INLINE V lane_softplus(V x, V& slope) {
    const V y = exp_of_minus_magnitude(x);
    slope = (x >= 0.0f ? V{} + 1.0f : y) / (1.0f + y);
    return softplus_given(x, y);
}
template <Float64Lanes V>
STRUCTSEQ_ALWAYS_INLINE V lane_softplus(V x, V& slope) {
    slope = lane_sigmoid(x);
    return lane_softplus(x);
}

}  // namespace structseq::ssm_detail
