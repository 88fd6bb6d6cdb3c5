#include "structseq/model/sampling.h"

#include "structseq/core/error.h"
#include "structseq/core/rng.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace structseq {
namespace {

const std::vector<float> kLogits = {0.0f, 2.0f, 1.0f, 2.0f, -1.0f};

TEST(Sampling, GreedyTakesTheArgMaxLowestIdOnTies) {
    SamplingOptions o;
    o.temperature = 0;
    EXPECT_EQ(sample_next_token(kLogits, o, 0.99), 1);
    o.temperature = 1;
    o.top_k = 1;
    EXPECT_EQ(sample_next_token(kLogits, o, 0.99), 1);
}

// Frequencies of 40000 draws against softmax(logits / T) restricted and renormalized by hand.
TEST(Sampling, DrawsFollowTheRestrictedSoftmax) {
    const auto frequencies = [](const SamplingOptions& o) {
        Rng rng(3);
        std::vector<double> f(kLogits.size(), 0.0);
        for (int i = 0; i < 40000; ++i)
            f[static_cast<std::size_t>(sample_next_token(kLogits, o, rng.uniform()))] +=
                1.0 / 40000;
        return f;
    };
    SamplingOptions o;
    o.temperature = 0.5;
    std::vector<double> p(kLogits.size());
    double z = 0;
    for (std::size_t i = 0; i < p.size(); ++i) z += p[i] = std::exp(kLogits[i] / 0.5);
    std::vector<double> f = frequencies(o);
    for (std::size_t i = 0; i < p.size(); ++i) EXPECT_NEAR(f[i], p[i] / z, 0.01) << i;
    o.top_k = 3;  // tokens 1, 3, 2
    f = frequencies(o);
    const double z3 = p[1] + p[3] + p[2];
    EXPECT_NEAR(f[1], p[1] / z3, 0.01);
    EXPECT_NEAR(f[2], p[2] / z3, 0.01);
    EXPECT_EQ(f[0], 0.0);
    EXPECT_EQ(f[4], 0.0);
    o.top_k = 0;
    o.top_p = 0.9;  // p[1]/z = p[3]/z ≈ 0.464 each: together 0.928 ≥ 0.9, nothing else
    f = frequencies(o);
    EXPECT_NEAR(f[1], 0.5, 0.01);
    EXPECT_EQ(f[2], 0.0);
    o.top_p = 0.95;  // token 2 (0.063) is needed as well
    f = frequencies(o);
    EXPECT_NEAR(f[2], p[2] / z3, 0.01);
    EXPECT_EQ(f[0], 0.0);
    o.top_p = 0.3;  // the first token alone
    f = frequencies(o);
    EXPECT_NEAR(f[1], 1.0, 1e-9);
}

TEST(Sampling, RepetitionPenaltyLowersRecentTokens) {
    SamplingOptions o;
    o.temperature = 0;
    o.repetition_penalty = 4.0;
    const std::vector<std::int64_t> recent = {1, 3};  // 2 → 0.5 for both; token 2 keeps 1.0
    EXPECT_EQ(sample_next_token(kLogits, o, 0.0, recent), 2);
}

TEST(Sampling, BadOptionsAreErrors) {
    SamplingOptions o;
    o.top_p = 0;
    EXPECT_THROW(sample_next_token(kLogits, o, 0.5), Error);
    o.top_p = 1;
    o.temperature = -1;
    EXPECT_THROW(sample_next_token(kLogits, o, 0.5), Error);
}

}  // namespace
}  // namespace structseq
