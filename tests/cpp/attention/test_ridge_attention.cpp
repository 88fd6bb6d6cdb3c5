#include "structseq/attention/ridge_attention.h"

#include "test_util.h"

#include <cmath>
#include <vector>

namespace structseq {
namespace {

using testing::normal_tensor;
using testing::relative_error;
using testing::values_of;

// x = A⁻¹ y for SPD A (d × d, row-major) by an unpivoted Cholesky written out here.
std::vector<double> spd_solve(std::vector<double> A, std::vector<double> y, int d) {
    for (int j = 0; j < d; ++j) {
        for (int k = 0; k < j; ++k) A[j * d + j] -= A[j * d + k] * A[j * d + k];
        A[j * d + j] = std::sqrt(A[j * d + j]);
        for (int i = j + 1; i < d; ++i) {
            for (int k = 0; k < j; ++k) A[i * d + j] -= A[i * d + k] * A[j * d + k];
            A[i * d + j] /= A[j * d + j];
        }
    }
    for (int i = 0; i < d; ++i) {
        for (int k = 0; k < i; ++k) y[i] -= A[i * d + k] * y[k];
        y[i] /= A[i * d + i];
    }
    for (int i = d - 1; i >= 0; --i) {
        for (int k = i + 1; k < d; ++k) y[i] -= A[k * d + i] * y[k];
        y[i] /= A[i * d + i];
    }
    return y;
}

// The definition, one head: out_t = q_tᵀ (K_tᵀK_t + λI)⁻¹ K_tᵀ V_t with K_t, V_t the rows up to
// t (causal) or all rows; q (n_q, d), k (n, d), v (n, dv), float64.
std::vector<double> per_prefix_solve(const double* q, const double* k, const double* v, int n_q,
                                     int n, int d, int dv, double lam, bool causal) {
    std::vector<double> out(static_cast<std::size_t>(n_q * dv));
    std::vector<double> M(d * d), b(d * dv);
    const auto add_row = [&](int i) {
        for (int r = 0; r < d; ++r) {
            for (int c = 0; c < d; ++c) M[r * d + c] += k[i * d + r] * k[i * d + c];
            for (int c = 0; c < dv; ++c) b[r * dv + c] += k[i * d + r] * v[i * dv + c];
        }
    };
    for (int r = 0; r < d; ++r) M[r * d + r] = lam;
    if (!causal) {
        for (int i = 0; i < n; ++i) add_row(i);
    }
    for (int t = 0; t < n_q; ++t) {
        if (causal) add_row(t);
        const std::vector<double> w = spd_solve(M, {q + t * d, q + (t + 1) * d}, d);
        for (int c = 0; c < dv; ++c) {
            double acc = 0;
            for (int r = 0; r < d; ++r) acc += w[r] * b[r * dv + c];
            out[t * dv + c] = acc;
        }
    }
    return out;
}

// The reference over every (batch, head).
std::vector<double> reference(const Tensor& q, const Tensor& k, const Tensor& v,
                              const std::vector<double>& lam, bool causal) {
    const int B = int(q.dim(0)), H = int(q.dim(1)), nq = int(q.dim(2)), n = int(k.dim(2)),
              d = int(q.dim(3)), dv = int(v.dim(3));
    std::vector<double> out;
    for (int bh = 0; bh < B * H; ++bh) {
        const std::vector<double> o =
            per_prefix_solve(q.data<double>() + bh * nq * d, k.data<double>() + bh * n * d,
                             v.data<double>() + bh * n * dv, nq, n, d, dv, lam[bh % H], causal);
        out.insert(out.end(), o.begin(), o.end());
    }
    return out;
}

TEST(RidgeAttention, CausalFormsMatchPerPrefixSolve) {
    const Tensor q = normal_tensor({2, 2, 37, 5}, 1), k = normal_tensor({2, 2, 37, 5}, 2),
                 v = normal_tensor({2, 2, 37, 3}, 3);
    const std::vector<double> lam = {0.7, 2.5};
    const std::vector<double> expected = reference(q, k, v, lam, true);
    for (std::int64_t chunk : {1, 3, 16, 64}) {
        RidgeAttentionOptions o;
        o.chunk_size = chunk;
        EXPECT_LT(relative_error(values_of(ridge_attention(q, k, v, lam, o)), expected), 1e-12)
            << "chunk " << chunk;
    }
    RidgeAttentionOptions o;
    o.method = RidgeMethod::SequentialShermanMorrison;
    o.refactor_every = 7;
    EXPECT_LT(relative_error(values_of(ridge_attention(q, k, v, lam, o)), expected), 1e-12);
}

// The Sherman–Morrison form's vectorized recursion at every width it handles: one, two and four
// 64-byte vectors per row (compiled widths), other widths, d ≠ d_v both ways, and heads wider
// than the kernel (the float64 recurrence), restarted from the float64 sums every 16 tokens; 33
// and 45 tokens end on a segment of one token and of 13 (two tokens per pass, then one).
TEST(RidgeAttention, ShermanMorrisonMatchesSolveAtEveryWidth) {
    const std::vector<std::pair<int, int>> widths = {{1, 1},   {16, 16}, {32, 32}, {64, 64},
                                                     {40, 40}, {20, 70}, {70, 20}, {300, 3}};
    for (const auto& [d, dv] : widths) {
        for (const int n : {33, 45}) {
            const Tensor q = normal_tensor({1, 2, n, d}, 50, 0.3),
                         k = normal_tensor({1, 2, n, d}, 51, 0.3),
                         v = normal_tensor({1, 2, n, dv}, 52);
            const std::vector<double> lam = {0.8, 3.0};
            const std::vector<double> expected = reference(q, k, v, lam, true);
            RidgeAttentionOptions o;
            o.method = RidgeMethod::SequentialShermanMorrison;
            o.refactor_every = 16;
            EXPECT_LT(relative_error(values_of(ridge_attention(q, k, v, lam, o)), expected), 1e-11)
                << "float64, d " << d << ", d_v " << dv << ", n " << n;
            const Tensor out32 =
                ridge_attention(q.to(DType::F32), k.to(DType::F32), v.to(DType::F32), lam, o);
            EXPECT_LT(relative_error(values_of(out32), expected), 2e-5)
                << "float32, d " << d << ", d_v " << dv << ", n " << n;
        }
    }
}

TEST(RidgeAttention, NonCausalMatchesSolveWithOtherQueryCount) {
    const Tensor q = normal_tensor({1, 3, 6, 4}, 4), k = normal_tensor({1, 3, 20, 4}, 5),
                 v = normal_tensor({1, 3, 20, 2}, 6);
    RidgeAttentionOptions o;
    o.causal = false;
    const Tensor out = ridge_attention(q, k, v, {0.3}, o);
    EXPECT_LT(relative_error(values_of(out), reference(q, k, v, {0.3, 0.3, 0.3}, false)), 1e-12);
}

TEST(RidgeAttention, WeightsReproduceTheOutput) {
    const Tensor q = normal_tensor({1, 2, 19, 4}, 7), k = normal_tensor({1, 2, 19, 4}, 8),
                 v = normal_tensor({1, 2, 19, 3}, 9);
    for (bool causal : {false, true}) {
        const Tensor alpha = ridge_attention_weights(q, k, {1.5, 0.4}, causal, 5);
        ASSERT_EQ(alpha.shape(), (Shape{1, 2, 19, 19}));
        std::vector<double> av;
        for (int h = 0; h < 2; ++h) {
            for (int t = 0; t < 19; ++t) {
                for (int c = 0; c < 3; ++c) {
                    double acc = 0;
                    for (int i = 0; i < 19; ++i) {
                        const double a = alpha.data<double>()[(h * 19 + t) * 19 + i];
                        if (causal && i > t) {
                            EXPECT_EQ(a, 0.0);
                        }
                        acc += a * v.data<double>()[(h * 19 + i) * 3 + c];
                    }
                    av.push_back(acc);
                }
            }
        }
        EXPECT_LT(relative_error(av, reference(q, k, v, {1.5, 0.4}, causal)), 1e-12);
    }
}

// Finite differences of L = Σ dout ⊙ ridge_attention(q, k, v, λ) along random directions.
TEST(RidgeAttention, BackwardMatchesFiniteDifferences) {
    for (bool causal : {true, false}) {
        const Tensor q = normal_tensor({2, 2, 11, 4}, 10), k = normal_tensor({2, 2, 11, 4}, 11),
                     v = normal_tensor({2, 2, 11, 3}, 12), dout = normal_tensor({2, 2, 11, 3}, 13);
        const std::vector<double> lam = {0.8, 1.7};
        RidgeAttentionOptions o;
        o.causal = causal;
        o.chunk_size = 4;
        const RidgeAttentionGrads g = ridge_attention_backward(dout, q, k, v, lam, o);
        const auto loss = [&](const Tensor& qq, const Tensor& kk, const Tensor& vv,
                              const std::vector<double>& l) {
            return testing::dot(ridge_attention(qq, kk, vv, l, o), dout);
        };
        const Tensor dir_q = normal_tensor(q.shape(), 20), dir_k = normal_tensor(k.shape(), 21),
                     dir_v = normal_tensor(v.shape(), 22);
        using testing::directional_difference;
        const double fd_q =
            directional_difference(q, dir_q, [&](const Tensor& x) { return loss(x, k, v, lam); });
        const double fd_k =
            directional_difference(k, dir_k, [&](const Tensor& x) { return loss(q, x, v, lam); });
        const double fd_v =
            directional_difference(v, dir_v, [&](const Tensor& x) { return loss(q, k, x, lam); });
        EXPECT_NEAR(testing::dot(g.dq, dir_q), fd_q, 1e-6 * std::abs(fd_q) + 1e-8) << causal;
        EXPECT_NEAR(testing::dot(g.dk, dir_k), fd_k, 1e-6 * std::abs(fd_k) + 1e-8) << causal;
        EXPECT_NEAR(testing::dot(g.dv, dir_v), fd_v, 1e-6 * std::abs(fd_v) + 1e-8) << causal;
        const double eps = 1e-6;
        ASSERT_EQ(g.dlam.size(), 2u);
        for (int h = 0; h < 2; ++h) {
            std::vector<double> up = lam, down = lam;
            up[h] += eps;
            down[h] -= eps;
            const double fd = (loss(q, k, v, up) - loss(q, k, v, down)) / (2 * eps);
            EXPECT_NEAR(g.dlam[h], fd, 1e-6 * std::abs(fd) + 1e-8) << causal << " head " << h;
        }
    }
}

// float32 over a long sequence: the float64 running sums and the per-chunk refactorization keep
// the causal output within 1e-4 of a float64 per-prefix solve (d = 16, λ = 1, n = 65536).
TEST(RidgeAttention, Float32StaysAccurateOverLongSequences) {
    const int n = 65536, d = 16;
    const Tensor q = normal_tensor({1, 1, n, d}, 30), k = normal_tensor({1, 1, n, d}, 31),
                 v = normal_tensor({1, 1, n, d}, 32);
    const std::vector<double> expected = reference(q, k, v, {1.0}, true);
    for (RidgeMethod method : {RidgeMethod::Chunked, RidgeMethod::SequentialShermanMorrison}) {
        RidgeAttentionOptions o;
        o.method = method;
        const std::vector<double> got = values_of(
            ridge_attention(q.to(DType::F32), k.to(DType::F32), v.to(DType::F32), {1.0}, o));
        EXPECT_LT(relative_error(got, expected), 1e-4);
        // and the last 1024 tokens on their own, where a drifting recursion would be worst
        const std::vector<double> tail_got(got.end() - 1024 * d, got.end()),
            tail_expected(expected.end() - 1024 * d, expected.end());
        EXPECT_LT(relative_error(tail_got, tail_expected), 1e-4);
    }
}

TEST(RidgeAttention, RecurrentStateMatchesTheSequenceForm) {
    const Tensor q = normal_tensor({1, 2, 9, 4}, 40), k = normal_tensor({1, 2, 9, 4}, 41),
                 v = normal_tensor({1, 2, 9, 3}, 42);
    const std::vector<double> expected = values_of(ridge_attention(q, k, v, {0.5, 2.0}));
    RidgeAttentionState state(2, 4, 3, {0.5, 2.0}, 4);
    for (int t = 0; t < 9; ++t) {
        const Tensor out = state.step(q.select(0, 0).select(1, t), k.select(0, 0).select(1, t),
                                      v.select(0, 0).select(1, t));
        for (int h = 0; h < 2; ++h) {
            for (int c = 0; c < 3; ++c) {
                EXPECT_NEAR(out.data<double>()[h * 3 + c], expected[(h * 9 + t) * 3 + c], 1e-12);
            }
        }
    }
    EXPECT_EQ(state.tokens(), 9);
}

TEST(RidgeAttention, BadArgumentsAreNamed) {
    const Tensor q = normal_tensor({1, 2, 5, 4}, 1), v = normal_tensor({1, 2, 5, 3}, 2);
    EXPECT_ERROR_CONTAINS(ridge_attention(q, q, v, {0.0}), "lam is 0");
    EXPECT_ERROR_CONTAINS(ridge_attention(q, q, v, {1, 2, 3}), "one per head");
    EXPECT_ERROR_CONTAINS(ridge_attention(q, normal_tensor({1, 2, 5, 3}, 3), v, {1}),
                          "k has shape");
    EXPECT_ERROR_CONTAINS(ridge_attention(normal_tensor({1, 2, 4, 4}, 3), q, v, {1}),
                          "as many as keys");
    EXPECT_ERROR_CONTAINS(ridge_attention(q.to(DType::F32), q, v, {1}), "dtype");
}

}  // namespace
}  // namespace structseq
