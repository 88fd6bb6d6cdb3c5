#include "structseq/attention/softmax_attention.h"

#include "test_util.h"

#include <cmath>
#include <vector>

namespace structseq {
namespace {

using testing::normal_tensor;
using testing::relative_error;
using testing::values_of;

// softmax(q kᵀ/√d) v written as loops; causal queries are the last n_q positions.
std::vector<double> naive_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    bool causal) {
    const int BH = int(q.dim(0) * q.dim(1)), nq = int(q.dim(2)), n = int(k.dim(2)),
              d = int(q.dim(3)), dv = int(v.dim(3));
    std::vector<double> out;
    for (int bh = 0; bh < BH; ++bh) {
        for (int t = 0; t < nq; ++t) {
            const int seen = causal ? t + n - nq + 1 : n;
            std::vector<double> w(seen);
            double top = -1e300, sum = 0;
            for (int j = 0; j < seen; ++j) {
                double acc = 0;
                for (int c = 0; c < d; ++c)
                    acc += q.data<double>()[(bh * nq + t) * d + c] *
                           k.data<double>()[(bh * n + j) * d + c];
                w[j] = acc / std::sqrt(double(d));
                top = std::max(top, w[j]);
            }
            for (double& x : w) sum += x = std::exp(x - top);
            for (int c = 0; c < dv; ++c) {
                double acc = 0;
                for (int j = 0; j < seen; ++j)
                    acc += w[j] / sum * v.data<double>()[(bh * n + j) * dv + c];
                out.push_back(acc);
            }
        }
    }
    return out;
}

TEST(SoftmaxAttention, MatchesLoopsCausalAndNot) {
    // 150 queries cross the 64-query blocks; 70 of 150 are the cached-prefix case.
    for (int nq : {150, 70, 1}) {
        const Tensor q = normal_tensor({2, 3, nq, 8}, 1), k = normal_tensor({2, 3, 150, 8}, 2),
                     v = normal_tensor({2, 3, 150, 5}, 3);
        for (bool causal : {true, false}) {
            const SoftmaxAttentionResult r = softmax_attention(q, k, v, causal);
            EXPECT_LT(relative_error(values_of(r.out), naive_attention(q, k, v, causal)), 1e-13)
                << nq << " " << causal;
        }
    }
}

TEST(SoftmaxAttention, BackwardMatchesFiniteDifferences) {
    for (bool causal : {true, false}) {
        const Tensor q = normal_tensor({1, 2, 70, 4}, 4), k = normal_tensor({1, 2, 75, 4}, 5),
                     v = normal_tensor({1, 2, 75, 3}, 6), dout = normal_tensor({1, 2, 70, 3}, 7);
        const SoftmaxAttentionResult r = softmax_attention(q, k, v, causal);
        const SoftmaxAttentionGrads g = softmax_attention_backward(dout, q, k, v, r, causal);
        const auto loss = [&](const Tensor& qq, const Tensor& kk, const Tensor& vv) {
            return testing::dot(softmax_attention(qq, kk, vv, causal).out, dout);
        };
        const Tensor dq = normal_tensor(q.shape(), 8), dk = normal_tensor(k.shape(), 9),
                     dv = normal_tensor(v.shape(), 10);
        using testing::directional_difference;
        const double fq =
            directional_difference(q, dq, [&](const Tensor& x) { return loss(x, k, v); });
        const double fk =
            directional_difference(k, dk, [&](const Tensor& x) { return loss(q, x, v); });
        const double fv =
            directional_difference(v, dv, [&](const Tensor& x) { return loss(q, k, x); });
        EXPECT_NEAR(testing::dot(g.dq, dq), fq, 1e-6 * std::abs(fq) + 1e-8) << causal;
        EXPECT_NEAR(testing::dot(g.dk, dk), fk, 1e-6 * std::abs(fk) + 1e-8) << causal;
        EXPECT_NEAR(testing::dot(g.dv, dv), fv, 1e-6 * std::abs(fv) + 1e-8) << causal;
    }
}

TEST(SoftmaxAttention, Float32FollowsFloat64) {
    const Tensor q = normal_tensor({1, 2, 300, 16}, 11), k = normal_tensor({1, 2, 300, 16}, 12),
                 v = normal_tensor({1, 2, 300, 16}, 13);
    const auto f32 = [](const Tensor& t) { return t.to(DType::F32); };
    EXPECT_LT(relative_error(values_of(softmax_attention(f32(q), f32(k), f32(v)).out),
                             values_of(softmax_attention(q, k, v).out)),
              1e-6);
}

// The probabilities times v are the output; masked (future) keys get weight 0; rows sum to 1.
TEST(SoftmaxAttention, WeightsReproduceTheOutput) {
    for (int nq : {90, 1}) {
        const Tensor q = normal_tensor({1, 2, nq, 4}, 14), k = normal_tensor({1, 2, 90, 4}, 15),
                     v = normal_tensor({1, 2, 90, 3}, 16);
        for (bool causal : {true, false}) {
            const Tensor P = softmax_attention_weights(q, k, causal);
            ASSERT_EQ(P.shape(), (Shape{1, 2, nq, 90}));
            std::vector<double> pv;
            for (int h = 0; h < 2; ++h) {
                for (int t = 0; t < nq; ++t) {
                    double total = 0;
                    for (int i = 0; i < 90; ++i) {
                        const double p = P.data<double>()[(h * nq + t) * 90 + i];
                        total += p;
                        if (causal && i > t + 90 - nq) {
                            EXPECT_EQ(p, 0.0);
                        }
                    }
                    EXPECT_NEAR(total, 1.0, 1e-12);
                    for (int c = 0; c < 3; ++c) {
                        double acc = 0;
                        for (int i = 0; i < 90; ++i) {
                            acc += P.data<double>()[(h * nq + t) * 90 + i] *
                                   v.data<double>()[(h * 90 + i) * 3 + c];
                        }
                        pv.push_back(acc);
                    }
                }
            }
            EXPECT_LT(relative_error(pv, naive_attention(q, k, v, causal)), 1e-13) << causal;
        }
    }
}

TEST(SoftmaxAttention, RejectsMoreCausalQueriesThanKeys) {
    const Tensor q = normal_tensor({1, 1, 5, 4}, 1), k = normal_tensor({1, 1, 4, 4}, 2);
    EXPECT_THROW(softmax_attention(q, k, k, true), Error);
    EXPECT_NO_THROW(softmax_attention(q, k, k, false));
}

}  // namespace
}  // namespace structseq
