#include "ssm/lane_exp.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace structseq::ssm_detail {
namespace {

// Within 4 ulp of std::exp over the range the selective scan uses (Δ·A ≤ 0, down to the
// clamp), and saturating, not overflowing, above it.
TEST(LaneExp, MatchesStdExp) {
    double worst = 0;
    for (int i = 0; i < 20000; ++i) {
        Lanes8 x;
        for (int k = 0; k < 8; ++k) x[k] = -700.0 + 709.0 * ((i * 8 + k) / 160000.0);
        const Lanes8 y = lane_exp(x);
        for (int k = 0; k < 8; ++k) {
            const double expected = std::exp(x[k]);
            worst = std::max(worst, std::abs(y[k] - expected) / expected);
        }
    }
    EXPECT_LT(worst, 4 * 2.220446049250313e-16);
    const Lanes8 big = lane_exp(Lanes8{} + 1000.0), tiny = lane_exp(Lanes8{} - 1000.0);
    EXPECT_TRUE(std::isfinite(big[0]));
    EXPECT_GE(tiny[0], 0.0);
    EXPECT_LT(tiny[0], 1e-300);
    EXPECT_EQ(lane_exp(Lanes8{})[3], 1.0);
}

}  // namespace
}  // namespace structseq::ssm_detail

namespace structseq::ssm_detail {
namespace {

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

}  // namespace
}  // namespace structseq::ssm_detail

namespace structseq::ssm_detail {
namespace {

// float32: within 2 ulp of std::exp over [−87, 0] (Δ·A ≤ 0 in the scan) and up to 88.
TEST(LaneExp, Float32MatchesStdExp) {
    double worst = 0;
    for (int i = 0; i < 20000; ++i) {
        Lanes16f x;
        for (int k = 0; k < 16; ++k)
            x[k] = -87.0f + 175.0f * static_cast<float>(i * 16 + k) / 320000.0f;
        const Lanes16f y = lane_exp(x);
        for (int k = 0; k < 16; ++k) {
            const double expected = std::exp(static_cast<double>(x[k]));
            worst = std::max(worst, std::abs(y[k] - expected) / expected);
        }
    }
    EXPECT_LT(worst, 2 * 1.1920928955078125e-07);
    const Lanes16f big = lane_exp(Lanes16f{} + 1000.0f), tiny = lane_exp(Lanes16f{} - 1000.0f);
    EXPECT_TRUE(std::isfinite(big[0]));
    EXPECT_GT(tiny[0], 0.0f);
    EXPECT_LT(tiny[0], 1e-37f);
    EXPECT_EQ(lane_exp(Lanes16f{})[5], 1.0f);
}

}  // namespace
}  // namespace structseq::ssm_detail

namespace structseq::ssm_detail {
namespace {

TEST(LaneSoftplus, Float32MatchesLog1pOfExp) {
    double worst = 0;
    for (int i = 0; i < 20000; ++i) {
        Lanes16f x;
        for (int k = 0; k < 16; ++k)
            x[k] = -80.0f + 120.0f * static_cast<float>(i * 16 + k) / 320000.0f;
        const Lanes16f y = lane_softplus(x);
        for (int k = 0; k < 16; ++k) {
            const double v = x[k], expected = v > 20 ? v : std::log1p(std::exp(v));
            worst = std::max(worst, std::abs(y[k] - expected) / expected);
        }
    }
    EXPECT_LT(worst, 4 * 1.1920928955078125e-07);
}

}  // namespace
}  // namespace structseq::ssm_detail

namespace structseq::ssm_detail {
namespace {

// float32 2^t: within 2 ulp of std::exp2 over the range it does not clamp, exact at integers,
// normal and finite beyond it.
TEST(LaneExp2, Float32MatchesStdExp2) {
    double worst = 0;
    for (int i = 0; i < 20000; ++i) {
        Lanes16f t;
        for (int k = 0; k < 16; ++k)
            t[k] = -125.0f + 252.0f * static_cast<float>(i * 16 + k) / 320000.0f;
        const Lanes16f y = lane_exp2(t);
        for (int k = 0; k < 16; ++k) {
            const double expected = std::exp2(static_cast<double>(t[k]));
            const double ulp = std::nextafter(static_cast<float>(expected), INFINITY) -
                               static_cast<float>(expected);
            worst = std::max(worst, std::abs(y[k] - expected) / ulp);
        }
    }
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
