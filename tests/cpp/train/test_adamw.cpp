#include "structseq/train/adamw.h"

#include "structseq/core/rng.h"
#include "test_util.h"

#include <cmath>
#include <vector>

namespace structseq {
namespace {

// Three steps on two parameters (one without decay, one with a learning-rate multiplier)
// against the update written out in plain loops.
TEST(AdamW, MatchesTheUpdateRule) {
    Tensor a = Rng(1).normal({5}, DType::F64), b = Rng(2).normal({2, 3}, DType::F32);
    const std::vector<double> a0(a.data<double>(), a.data<double>() + 5);
    std::vector<double> b0(6);
    for (int k = 0; k < 6; ++k) b0[k] = b.data<float>()[k];
    AdamWOptions o;
    o.weight_decay = 0.1;
    AdamW opt({{"a", &a, true, 1.0}, {"b", &b, false, 1.5}}, o);
    std::vector<double> ma(5, 0), va(5, 0), mb(6, 0), vb(6, 0), ea = a0, eb = b0;
    for (int t = 1; t <= 3; ++t) {
        const Tensor ga = Rng(10 + t).normal({5}, DType::F64);
        const Tensor gb = Rng(20 + t).normal({2, 3}, DType::F32);
        const double lr = 0.01 * t;
        opt.step({&ga, &gb}, lr);
        const auto reference = [&](std::vector<double>& theta, std::vector<double>& m,
                                   std::vector<double>& v, auto grad, double decay, double scale) {
            for (std::size_t k = 0; k < theta.size(); ++k) {
                const double g = grad(k);
                m[k] = 0.9 * m[k] + 0.1 * g;
                v[k] = 0.999 * v[k] + 0.001 * g * g;
                const double mhat = m[k] / (1 - std::pow(0.9, t));
                const double vhat = v[k] / (1 - std::pow(0.999, t));
                theta[k] -= lr * scale * (mhat / (std::sqrt(vhat) + 1e-8) + decay * theta[k]);
            }
        };
        reference(
            ea, ma, va, [&](std::size_t k) { return ga.data<double>()[k]; }, 0.1, 1.0);
        reference(
            eb, mb, vb, [&](std::size_t k) { return double(gb.data<float>()[k]); }, 0.0, 1.5);
        for (int k = 0; k < 5; ++k) EXPECT_NEAR(a.data<double>()[k], ea[k], 1e-15) << t;
        for (int k = 0; k < 6; ++k) EXPECT_NEAR(b.data<float>()[k], eb[k], 1e-6) << t;
        eb.assign(b.data<float>(), b.data<float>() + 6);  // float32 storage rounds each step
    }
    EXPECT_EQ(opt.steps(), 3);
}

// An optimizer restored from another's moments and step count takes the same next step.
TEST(AdamW, RestoredMomentsContinueTheSameTrajectory) {
    Tensor a = Rng(1).normal({7}, DType::F32), b = a.clone();
    const Tensor g1 = Rng(2).normal({7}, DType::F32), g2 = Rng(3).normal({7}, DType::F32);
    AdamW first({{"w", &a}});
    first.step({&g1}, 0.05);
    b = a.clone();
    AdamW second({{"w", &b}});
    second.restore(first.steps(), first.moments());
    first.step({&g2}, 0.05);
    second.step({&g2}, 0.05);
    for (int k = 0; k < 7; ++k) EXPECT_EQ(a.data<float>()[k], b.data<float>()[k]) << k;
    EXPECT_EQ(second.steps(), 2);
    EXPECT_ERROR_CONTAINS(second.restore(1, {}), "m.w");
}

TEST(AdamW, BadArgumentsAreNamed) {
    Tensor a({3}, DType::F64);
    AdamWOptions o;
    o.beta1 = 1.0;
    EXPECT_ERROR_CONTAINS(AdamW({{"a", &a}}, o), "betas");
    AdamW opt({{"a", &a}});
    const Tensor wrong({4}, DType::F64);
    EXPECT_ERROR_CONTAINS(opt.step({&wrong}, 0.1), "a");
    EXPECT_ERROR_CONTAINS(opt.step({}, 0.1), "grads");
}

}  // namespace
}  // namespace structseq
