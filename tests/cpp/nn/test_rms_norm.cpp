#include "structseq/nn/rms_norm.h"

#include "structseq/core/rng.h"
#include "test_util.h"

#include <cmath>

namespace structseq {
namespace {

Tensor normals(Shape shape, std::uint64_t seed) {
    return Rng(seed).normal(std::move(shape), DType::F64);
}

// L = Σ dy ⊙ rms_norm(x, w): its gradients by central differences against the backward, and the
// forward against a plain loop.
TEST(RmsNorm, ForwardMatchesLoopAndBackwardMatchesFiniteDifferences) {
    const std::int64_t m = 3, d = 7;
    const double eps = 1e-5;
    const Tensor x = normals({m, d}, 1), w = normals({d}, 2), dy = normals({m, d}, 3);
    const Tensor y = rms_norm_forward(x, w, eps);
    for (std::int64_t r = 0; r < m; ++r) {
        double sq = 0;
        for (std::int64_t j = 0; j < d; ++j)
            sq += x.data<double>()[r * d + j] * x.data<double>()[r * d + j];
        const double s = 1 / std::sqrt(sq / d + eps);
        for (std::int64_t j = 0; j < d; ++j) {
            EXPECT_NEAR(y.data<double>()[r * d + j],
                        x.data<double>()[r * d + j] * s * w.data<double>()[j], 1e-14);
        }
    }
    Tensor dw({d}, DType::F64);
    const Tensor dx = rms_norm_backward(dy, x, w, dw, eps);
    const auto loss = [&](const Tensor& xx, const Tensor& ww) {
        const Tensor yy = rms_norm_forward(xx, ww, eps);
        double sum = 0;
        for (std::int64_t k = 0; k < m * d; ++k) sum += yy.data<double>()[k] * dy.data<double>()[k];
        return sum;
    };
    const double h = 1e-6;
    for (std::int64_t k = 0; k < m * d; ++k) {
        Tensor plus = x.clone(), minus = x.clone();
        plus.data<double>()[k] += h;
        minus.data<double>()[k] -= h;
        EXPECT_NEAR(dx.data<double>()[k], (loss(plus, w) - loss(minus, w)) / (2 * h), 1e-8);
    }
    for (std::int64_t j = 0; j < d; ++j) {
        Tensor plus = w.clone(), minus = w.clone();
        plus.data<double>()[j] += h;
        minus.data<double>()[j] -= h;
        EXPECT_NEAR(dw.data<double>()[j], (loss(x, plus) - loss(x, minus)) / (2 * h), 1e-8);
    }
}

TEST(RmsNorm, BadArgumentsNameTheArgument) {
    const Tensor x = normals({2, 4}, 1);
    EXPECT_ERROR_CONTAINS(rms_norm_forward(x, normals({3}, 2)), "weight");
    EXPECT_ERROR_CONTAINS(rms_norm_forward(x, normals({4}, 2), 0.0), "eps");
    EXPECT_ERROR_CONTAINS(rms_norm_forward(normals({8}, 1), normals({8}, 2)), "(M, D)");
}

}  // namespace
}  // namespace structseq
