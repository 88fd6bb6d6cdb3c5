#include "structseq/train/lr_schedule.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

namespace structseq {
namespace {

SchedulerSettings schedule(const char* name, std::int64_t warmup, double min_ratio) {
    SchedulerSettings s;
    s.name = name;
    s.warmup_steps = warmup;
    s.min_lr_ratio = min_ratio;
    return s;
}

TEST(LearningRate, WarmupThenCosineLinearOrConstant) {
    const double peak = 1e-3;
    const SchedulerSettings cosine = schedule("cosine", 10, 0.1);
    EXPECT_DOUBLE_EQ(learning_rate_at(cosine, peak, 0, 110), peak / 10);
    EXPECT_DOUBLE_EQ(learning_rate_at(cosine, peak, 9, 110), peak);
    EXPECT_DOUBLE_EQ(learning_rate_at(cosine, peak, 10, 110), peak);
    EXPECT_NEAR(learning_rate_at(cosine, peak, 109, 110), 1e-4, 1e-15);
    // Halfway through the decay (p = (59 − 10) / (110 − 10 − 1)): the formula written out.
    const double p = 49.0 / 99.0;
    EXPECT_NEAR(learning_rate_at(cosine, peak, 59, 110),
                1e-4 + 9e-4 * 0.5 * (1 + std::cos(std::numbers::pi * p)), 1e-18);
    const SchedulerSettings linear = schedule("linear", 0, 0.0);
    EXPECT_DOUBLE_EQ(learning_rate_at(linear, peak, 0, 101), peak);
    EXPECT_NEAR(learning_rate_at(linear, peak, 50, 101), peak / 2, 1e-18);
    EXPECT_NEAR(learning_rate_at(linear, peak, 100, 101), 0.0, 1e-18);
    const SchedulerSettings constant = schedule("constant", 4, 0.5);
    EXPECT_DOUBLE_EQ(learning_rate_at(constant, peak, 1, 100), peak / 2);
    EXPECT_DOUBLE_EQ(learning_rate_at(constant, peak, 70, 100), peak);
}

}  // namespace
}  // namespace structseq
