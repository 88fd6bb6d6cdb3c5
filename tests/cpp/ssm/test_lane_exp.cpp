#include "ssm/lane_exp.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace structseq::ssm_detail {
namespace {

// The largest error(f(x)[k], reference(x[k])) over 20000 vectors of x evenly spaced in [lo, hi).
template <class V, class F, class Reference, class Error>
double worst_error(double lo, double hi, F f, Reference reference, Error error) {
    using Element = LaneElement<V>;
    constexpr int lanes = sizeof(V) / sizeof(Element);
    double worst = 0;
    for (int i = 0; i < 20000; ++i) {
        V x;
        for (int k = 0; k < lanes; ++k)
            x[k] = static_cast<Element>(lo + (hi - lo) * ((i * lanes + k) / (20000.0 * lanes)));
        const V y = f(x);
        for (int k = 0; k < lanes; ++k) {
            worst = std::max(
                worst, error(static_cast<double>(y[k]), reference(static_cast<double>(x[k]))));
        }
    }
    return worst;
}

double relative(double value, double expected) {
    return std::abs(value - expected) / std::abs(expected);
}

// Within 4 ulp of std::exp over the range the selective scan uses (Δ·A ≤ 0, down to the
// clamp), and saturating, not overflowing, above it.
TEST(LaneExp, MatchesStdExp) {
    const double worst = worst_error<Lanes8>(
        -700.0, 9.0, [](Lanes8 x) { return lane_exp(x); }, [](double x) { return std::exp(x); },
        relative);
    EXPECT_LT(worst, 4 * 2.220446049250313e-16);
    const Lanes8 big = lane_exp(Lanes8{} + 1000.0), tiny = lane_exp(Lanes8{} - 1000.0);
    EXPECT_TRUE(std::isfinite(big[0]));
    EXPECT_GE(tiny[0], 0.0);
    EXPECT_LT(tiny[0], 1e-300);
    EXPECT_EQ(lane_exp(Lanes8{})[3], 1.0);
}

TEST(LaneLog, MatchesStdLogAndSoftplusMatchesLog1p) {
    double worst_log = 0, worst_softplus = 0;
    for (int i = 0; i < 20000; ++i) {
        Lanes8 x, s;
        for (int k = 0; k < 8; ++k) {
            const double f = (i * 8 + k) / 160000.0;
            x[k] = std::exp(-300.0 + 600.0 * f);
            s[k] = -60.0 + 100.0 * f;
        }
        const Lanes8 y = lane_log(x), sp = lane_softplus(s);
        for (int k = 0; k < 8; ++k) {
            worst_log = std::max(worst_log, std::abs(y[k] - std::log(x[k])) /
                                                std::max(1.0, std::abs(std::log(x[k]))));
            const double expected = s[k] > 20 ? s[k] : std::log1p(std::exp(s[k]));
            worst_softplus = std::max(worst_softplus, std::abs(sp[k] - expected) / expected);
        }
    }
    EXPECT_LT(worst_log, 4 * 2.220446049250313e-16);
    EXPECT_LT(worst_softplus, 8 * 2.220446049250313e-16);
}

// float32: within 2 ulp of std::exp over [−87, 0] (Δ·A ≤ 0 in the scan) and up to 88.
TEST(LaneExp, Float32MatchesStdExp) {
    const double worst = worst_error<Lanes16f>(
        -87.0, 88.0, [](Lanes16f x) { return lane_exp(x); }, [](double x) { return std::exp(x); },
        relative);
    EXPECT_LT(worst, 2 * 1.1920928955078125e-07);
    const Lanes16f big = lane_exp(Lanes16f{} + 1000.0f), tiny = lane_exp(Lanes16f{} - 1000.0f);
    EXPECT_TRUE(std::isfinite(big[0]));
    EXPECT_GT(tiny[0], 0.0f);
    EXPECT_LT(tiny[0], 1e-37f);
    EXPECT_EQ(lane_exp(Lanes16f{})[5], 1.0f);
}

TEST(LaneSoftplus, Float32MatchesLog1pOfExp) {
    const double worst = worst_error<Lanes16f>(
        -80.0, 40.0, [](Lanes16f x) { return lane_softplus(x); },
        [](double x) { return x > 20 ? x : std::log1p(std::exp(x)); }, relative);
    EXPECT_LT(worst, 4 * 1.1920928955078125e-07);
}

// The two-output softplus: the same softplus bits, and σ(x) within 4 ulp (float32) and 8 ulp
// (float64) of 1 / (1 + e^−x).
TEST(LaneSoftplus, WithSlopeGivesTheSameValueAndTheSigmoid) {
    const auto sigmoid = [](double x) { return 1 / (1 + std::exp(-x)); };
    const double worst32 = worst_error<Lanes16f>(
        -80.0, 40.0,
        [](Lanes16f x) {
            Lanes16f slope;
            const Lanes16f value = lane_softplus(x, slope);
            for (int k = 0; k < 16; ++k) EXPECT_EQ(value[k], lane_softplus(x)[k]) << x[k];
            return slope;
        },
        sigmoid, relative);
    EXPECT_LT(worst32, 4 * 1.1920928955078125e-07);
    const double worst64 = worst_error<Lanes8>(
        -80.0, 40.0,
        [](Lanes8 x) {
            Lanes8 slope;
            lane_softplus(x, slope);
            return slope;
        },
        sigmoid, relative);
    EXPECT_LT(worst64, 8 * 2.220446049250313e-16);
}

// float32 2^t: within 2 ulp of std::exp2 over the range it does not clamp, exact at integers,
// normal and finite beyond it.
TEST(LaneExp2, Float32MatchesStdExp2) {
    const auto in_ulps = [](double value, double expected) {
        const float rounded = static_cast<float>(expected);
        return std::abs(value - expected) / (std::nextafter(rounded, INFINITY) - rounded);
    };
    const double worst = worst_error<Lanes16f>(
        -125.0, 127.0, [](Lanes16f t) { return lane_exp2(t); },
        [](double t) { return std::exp2(t); }, in_ulps);
    EXPECT_LT(worst, 2.0);
    for (int k = -125; k <= 127; k += 9) {
        EXPECT_EQ(lane_exp2(Lanes16f{} + static_cast<float>(k))[7], std::ldexp(1.0f, k)) << k;
    }
    const Lanes16f big = lane_exp2(Lanes16f{} + 1000.0f), tiny = lane_exp2(Lanes16f{} - 1000.0f);
    EXPECT_TRUE(std::isfinite(big[0]));
    EXPECT_GE(tiny[0], std::numeric_limits<float>::min());
    EXPECT_LT(tiny[0], 1e-37f);
}

}  // namespace
}  // namespace structseq::ssm_detail
