#include "structseq/ssm/causal_conv.h"

#include "test_util.h"

namespace structseq {
namespace {

using testing::normal_tensor;
using testing::relative_error;
using testing::values_of;

std::vector<double> conv_loop(const Tensor& u, const Tensor& K) {
    const std::int64_t batch = u.dim(0), L = u.dim(1), H = u.dim(2), Lk = K.dim(0);
    const bool shared = K.rank() == 1;
    const std::vector<double> x = values_of(u), k = values_of(K);
    std::vector<double> y(x.size(), 0.0);
    for (std::int64_t b = 0; b < batch; ++b) {
        for (std::int64_t t = 0; t < L; ++t) {
            for (std::int64_t h = 0; h < H; ++h) {
                for (std::int64_t s = 0; s <= t && s < Lk; ++s) {
                    y[(b * L + t) * H + h] +=
                        k[shared ? s : s * H + h] * x[(b * L + t - s) * H + h];
                }
            }
        }
    }
    return y;
}

TEST(CausalConv, DirectAndFftMatchTheLoop) {
    struct Case {
        Shape u;
        Shape k;
    };
    for (const Case& c :
         {Case{{1, 1, 1}, {1, 1}}, Case{{2, 7, 3}, {7, 3}}, Case{{3, 40, 5}, {13, 5}},
          Case{{1, 129, 2}, {129}}, Case{{2, 5, 1}, {9, 1}}}) {
        const Tensor u = normal_tensor(c.u, 1), K = normal_tensor(c.k, 2);
        const std::vector<double> expected = conv_loop(u, K);
        for (const char* method : {"direct", "fft", "auto"}) {
            EXPECT_LT(relative_error(values_of(causal_conv(u, K, method)), expected), 1e-13)
                << method << " " << shape_string(c.u);
        }
    }
}

TEST(CausalConv, BackwardIsTheAdjoint) {
    // <dy, conv(u, K)> is bilinear: ⟨du, u⟩ = ⟨dK, K⟩ = ⟨dy, y⟩.
    const Tensor u = normal_tensor({2, 31, 3}, 3), K = normal_tensor({17, 3}, 4);
    const Tensor dy = normal_tensor({2, 31, 3}, 5);
    const std::vector<double> y = values_of(causal_conv(u, K, "direct")), g = values_of(dy);
    double expected = 0;
    for (std::size_t i = 0; i < y.size(); ++i) expected += y[i] * g[i];
    for (const char* method : {"direct", "fft"}) {
        const CausalConvGradients grads = causal_conv_backward(dy, u, K, method);
        const std::vector<double> du = values_of(grads.du), x = values_of(u);
        const std::vector<double> dK = values_of(grads.dK), k = values_of(K);
        double via_u = 0, via_k = 0;
        for (std::size_t i = 0; i < x.size(); ++i) via_u += du[i] * x[i];
        for (std::size_t i = 0; i < k.size(); ++i) via_k += dK[i] * k[i];
        EXPECT_NEAR(via_u, expected, 1e-11 * std::abs(expected)) << method;
        EXPECT_NEAR(via_k, expected, 1e-11 * std::abs(expected)) << method;
    }
}

TEST(CausalConv, RejectsBadArguments) {
    const Tensor u = normal_tensor({1, 4, 2}, 1);
    EXPECT_ERROR_CONTAINS(causal_conv(u, normal_tensor({4, 3}, 2)), "K");
    EXPECT_ERROR_CONTAINS(causal_conv(normal_tensor({4, 2}, 1), normal_tensor({4, 2}, 2)), "u");
    EXPECT_ERROR_CONTAINS(causal_conv(u, normal_tensor({4, 2}, 2), "ntt"), "method");
}

}  // namespace
}  // namespace structseq
