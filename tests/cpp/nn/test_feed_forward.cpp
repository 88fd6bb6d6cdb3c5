#include "structseq/nn/feed_forward.h"

#include "structseq/core/rng.h"
#include "test_util.h"

#include <cmath>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace structseq {
namespace {

FeedForwardWeights weights(bool biases) {
    FeedForwardWeights w;
    w.fc1 = testing::normal_tensor({6, 4}, 1, 0.7);
    w.fc2 = testing::normal_tensor({4, 6}, 2, 0.7);
    if (biases) {
        w.fc1_bias = testing::normal_tensor({6}, 3, 0.3);
        w.fc2_bias = testing::normal_tensor({4}, 4, 0.3);
    }
    return w;
}

// act by its definition, for the forward check.
double act(const std::string& name, double x) {
    if (name == "relu") return x > 0 ? x : 0;
    if (name == "silu") return x / (1 + std::exp(-x));
    return 0.5 * x * std::erfc(-x / std::sqrt(2.0));
}

TEST(FeedForward, ForwardMatchesTheLoop) {
    const FeedForwardWeights w = weights(true);
    const Tensor h = testing::normal_tensor({3, 4}, 5, 1.0);
    for (const std::string name : {"gelu", "silu", "relu"}) {
        const Tensor y = feed_forward_forward(w, h, name);
        for (std::int64_t r = 0; r < 3; ++r) {
            for (std::int64_t o = 0; o < 4; ++o) {
                double expected = w.fc2_bias.data<double>()[o];
                for (std::int64_t j = 0; j < 6; ++j) {
                    double a = w.fc1_bias.data<double>()[j];
                    for (std::int64_t i = 0; i < 4; ++i) {
                        a += w.fc1.data<double>()[j * 4 + i] * h.data<double>()[r * 4 + i];
                    }
                    expected += w.fc2.data<double>()[o * 6 + j] * act(name, a);
                }
                EXPECT_NEAR(y.data<double>()[r * 4 + o], expected, 1e-12) << name;
            }
        }
    }
}

// Σ dy ⊙ ffn(h): gradients of h and of every weight against central differences.
TEST(FeedForward, BackwardMatchesFiniteDifferences) {
    for (const std::string name : {"gelu", "silu", "relu"}) {
        FeedForwardWeights w = weights(true);
        Tensor h = testing::normal_tensor({5, 4}, 6, 1.0);
        const Tensor dy = testing::normal_tensor({5, 4}, 7, 1.0);
        FeedForwardSaved saved;
        feed_forward_forward(w, h, name, &saved);
        FeedForwardWeights g = w.zeros_like();
        const Tensor dh = feed_forward_backward(w, saved, dy, g);
        const auto loss = [&] { return testing::dot(feed_forward_forward(w, h, name), dy); };
        using Entry = std::tuple<const char*, Tensor*, const Tensor*>;
        for (const auto& [label, x, grad] :
             {Entry{"h", &h, &dh}, Entry{"fc1", &w.fc1, &g.fc1},
              Entry{"fc1_bias", &w.fc1_bias, &g.fc1_bias}, Entry{"fc2", &w.fc2, &g.fc2},
              Entry{"fc2_bias", &w.fc2_bias, &g.fc2_bias}}) {
            EXPECT_LT(testing::worst_central_difference(*x, *grad, loss), 1e-7)
                << name << " " << label;
        }
    }
}

TEST(FeedForward, BadArgumentsAreNamed) {
    const FeedForwardWeights w = weights(false);
    EXPECT_ERROR_CONTAINS(feed_forward_forward(w, testing::normal_tensor({2, 4}, 1, 1.0), "swish"),
                          "activation");
    EXPECT_ERROR_CONTAINS(feed_forward_forward(w, testing::normal_tensor({2, 5}, 1, 1.0), "gelu"),
                          "in");
}

}  // namespace
}  // namespace structseq
