#include "structseq/nn/bk_block.h"
#include "structseq/nn/linear.h"

#include "structseq/core/rng.h"
#include "test_util.h"

#include <cmath>
#include <cstring>

namespace structseq {
namespace {

Tensor normals(Shape shape, std::uint64_t seed) {
    return Rng(seed).normal(std::move(shape), DType::F64);
}

// One row goes through GEMV instead of GEMM: same values.
TEST(Linear, OneRowMatchesPlainLoop) {
    const Tensor x = normals({1, 6}, 5), W = normals({4, 6}, 6), b = normals({4}, 7);
    for (const Tensor* bias : {static_cast<const Tensor*>(nullptr), &b}) {
        const Tensor y = linear_forward(x, W, bias);
        for (std::int64_t o = 0; o < 4; ++o) {
            double sum = bias != nullptr ? b.data<double>()[o] : 0.0;
            for (std::int64_t i = 0; i < 6; ++i)
                sum += x.data<double>()[i] * W.data<double>()[o * 6 + i];
            EXPECT_NEAR(y.data<double>()[o], sum, 1e-14);
        }
    }
}

TEST(Linear, ForwardAndBackwardMatchPlainLoops) {
    const Tensor x = normals({5, 3}, 1), W = normals({4, 3}, 2), b = normals({4}, 3),
                 dy = normals({5, 4}, 4);
    const Tensor y = linear_forward(x, W, &b);
    Tensor dW({4, 3}, DType::F64), db({4}, DType::F64);
    const Tensor dx = linear_backward(dy, x, W, dW, &db);
    for (std::int64_t r = 0; r < 5; ++r) {
        for (std::int64_t o = 0; o < 4; ++o) {
            double sum = b.data<double>()[o];
            for (std::int64_t i = 0; i < 3; ++i)
                sum += x.data<double>()[r * 3 + i] * W.data<double>()[o * 3 + i];
            EXPECT_NEAR(y.data<double>()[r * 4 + o], sum, 1e-14);
        }
        for (std::int64_t i = 0; i < 3; ++i) {
            double sum = 0;
            for (std::int64_t o = 0; o < 4; ++o)
                sum += dy.data<double>()[r * 4 + o] * W.data<double>()[o * 3 + i];
            EXPECT_NEAR(dx.data<double>()[r * 3 + i], sum, 1e-14);
        }
    }
    for (std::int64_t o = 0; o < 4; ++o) {
        double bias = 0;
        for (std::int64_t r = 0; r < 5; ++r) bias += dy.data<double>()[r * 4 + o];
        EXPECT_NEAR(db.data<double>()[o], bias, 1e-14);
        for (std::int64_t i = 0; i < 3; ++i) {
            double sum = 0;
            for (std::int64_t r = 0; r < 5; ++r)
                sum += dy.data<double>()[r * 4 + o] * x.data<double>()[r * 3 + i];
            EXPECT_NEAR(dW.data<double>()[o * 3 + i], sum, 1e-14);
        }
    }
    EXPECT_ERROR_CONTAINS(linear_forward(x, normals({4, 2}, 5), nullptr),
                          "W has shape (4, 2), expected (*, 3)");
}

// L = <w, y>; central differences in float64, step 1e-6: 1e-7 absolute (see the BK tests).
TEST(BkBlock, BackwardMatchesCentralDifferences) {
    for (const BkMode mode : {BkMode::Causal, BkMode::Bidirectional}) {
        BkBlockOptions o;
        o.d_model = 4;
        o.channels = 2;
        o.n_seq = 6;
        o.mode = mode;
        BkBlock block(o);
        const Tensor x = normals({2, 6, 4}, 6), w = normals({2, 6, 4}, 7);
        block.forward(x);
        const Tensor dx = block.backward(w);
        const auto loss = [&](const Tensor& input) {
            const Tensor y = block.forward(input);
            double sum = 0;
            for (std::int64_t i = 0; i < y.numel(); ++i)
                sum += y.data<double>()[i] * w.data<double>()[i];
            return sum;
        };
        const double h = 1e-6;
        for (std::int64_t i = 0; i < x.numel(); ++i) {
            Tensor plus = x.clone(), minus = x.clone();
            plus.data<double>()[i] += h;
            minus.data<double>()[i] -= h;
            EXPECT_NEAR(dx.data<double>()[i], (loss(plus) - loss(minus)) / (2 * h), 1e-7) << i;
        }
        const auto gradients = block.gradients();
        auto parameters = block.parameters();
        for (std::size_t k = 0; k < parameters.size(); ++k) {
            Tensor& p = *parameters[k].second;
            for (std::int64_t i = 0; i < p.numel(); ++i) {
                const double saved = p.data<double>()[i];
                p.data<double>()[i] = saved + h;
                const double up = loss(x);
                p.data<double>()[i] = saved - h;
                const double down = loss(x);
                p.data<double>()[i] = saved;
                EXPECT_NEAR(gradients[k].second->data<double>()[i], (up - down) / (2 * h), 1e-7)
                    << parameters[k].first << "[" << i << "]";
            }
        }
    }
}

TEST(BkBlock, CausalOutputIgnoresLaterPositions) {
    BkBlockOptions o;
    o.d_model = 8;
    o.channels = 3;
    o.n_seq = 32;
    BkBlock block(o);
    const Tensor x = normals({2, 32, 8}, 8);
    const Tensor before = block.forward(x).clone();
    Tensor changed = x.clone();
    for (std::int64_t k = 0; k < 8; ++k)
        changed.data<double>()[20 * 8 + k] += 1.0;  // batch 0, t = 20
    const Tensor after = block.forward(changed);
    EXPECT_EQ(std::memcmp(before.data<double>(), after.data<double>(), 20 * 8 * sizeof(double)), 0);
    EXPECT_NE(before.data<double>()[20 * 8], after.data<double>()[20 * 8]);
}

}  // namespace
}  // namespace structseq
