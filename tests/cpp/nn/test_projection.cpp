#include "structseq/nn/projection.h"

#include "structseq/core/rng.h"
#include "test_util.h"

#include <cmath>
#include <string>
#include <vector>

namespace structseq {
namespace {

Projection filled(Projection p, std::uint64_t seed) {
    Rng rng(seed);
    p.fill_uniform(rng, 0.5);
    if (p.diag.defined()) rng.uniform(p.diag, -0.5, 0.5);
    return p;
}

// Every kind of projection, float64, with nonzero values.
std::vector<std::pair<std::string, Projection>> examples() {
    return {
        {"dense", filled(Projection(Tensor({6, 8}, DType::F64)), 1)},
        {"block_sparse 12x20 (bs 4)", filled(Projection::block_sparse(12, 20, 0.6, DType::F64), 2)},
        {"block_sparse 56x64 (bs 8)", filled(Projection::block_sparse(56, 64, 0.9, DType::F64), 3)},
        {"block_sparse 7x9 (bs 1)", filled(Projection::block_sparse(7, 9, 0.5, DType::F64), 4)},
        {"low_rank 6x8", filled(Projection::low_rank(6, 8, 2, DType::F64), 5)},
        {"low_rank 8x8 + diagonal", filled(Projection::low_rank(8, 8, 3, DType::F64), 6)}};
}

TEST(Projection, ForwardEqualsTheDenseMatrix) {
    for (const auto& [name, p] : examples()) {
        const std::int64_t out = p.out_features(), in = p.in_features();
        const Tensor x = Rng(10).normal({5, in}, DType::F64);
        const Tensor b = Rng(11).normal({out}, DType::F64);
        const std::vector<double> W = testing::values_of(p.to_dense()), xv = testing::values_of(x),
                                  bv = testing::values_of(b);
        const std::vector<double> y = testing::values_of(projection_forward(p, x, &b));
        double worst = 0;
        for (std::int64_t r = 0; r < 5; ++r) {
            for (std::int64_t o = 0; o < out; ++o) {
                double expected = bv[o];
                for (std::int64_t i = 0; i < in; ++i) expected += W[o * in + i] * xv[r * in + i];
                worst = std::max(worst, std::abs(y[r * out + o] - expected));
            }
        }
        EXPECT_LT(worst, 1e-12) << name;
    }
}

// The block pattern: `keep` nonzero blocks per block row, every block column used about
// equally, stored values = out · keep · bs.
TEST(Projection, BlockSparsePatternKeepsTheRequestedDensity) {
    const Projection p = filled(Projection::block_sparse(64, 48, 0.75, DType::F64), 7);
    EXPECT_EQ(p.block_size(), 16);
    const std::int64_t keep = p.block_cols.dim(1);
    EXPECT_EQ(keep, 1);  // round(0.25 · 3)
    const Projection q = filled(Projection::block_sparse(256, 256, 0.9, DType::F64), 8);
    EXPECT_EQ(q.block_size(), 32);
    EXPECT_EQ(q.block_cols.dim(1), 1);  // round(0.1 · 8)
    const Projection r = filled(Projection::block_sparse(512, 1024, 0.9, DType::F64), 9);
    const std::int64_t k = r.block_cols.dim(1), bs = r.block_size();
    EXPECT_EQ(k, 3);  // round(0.1 · 32)
    EXPECT_EQ(r.parameter_count(), 512 * k * bs);
    const std::vector<double> W = testing::values_of(r.to_dense());
    std::vector<int> uses(32, 0);
    for (std::int64_t i = 0; i < 16; ++i) {
        int nonzero_blocks = 0;
        for (std::int64_t j = 0; j < 32; ++j) {
            bool any = false;
            for (std::int64_t o = 0; o < bs && !any; ++o) {
                for (std::int64_t c = 0; c < bs && !any; ++c)
                    any = W[(i * bs + o) * 1024 + j * bs + c] != 0;
            }
            nonzero_blocks += any;
            uses[j] += any;
        }
        EXPECT_EQ(nonzero_blocks, k) << "block row " << i;
    }
    const auto [lo, hi] = std::minmax_element(uses.begin(), uses.end());
    EXPECT_LE(*hi - *lo, 1);
}

// Σ dy ⊙ y: gradients of x, of the bias and of every stored matrix against central differences.
TEST(Projection, BackwardMatchesFiniteDifferences) {
    for (auto& [name, p] : examples()) {
        Tensor x = Rng(12).normal({4, p.in_features()}, DType::F64);
        Tensor b = Rng(13).normal({p.out_features()}, DType::F64);
        const Tensor dy = Rng(14).normal({4, p.out_features()}, DType::F64);
        Projection g = p.zeros_like();
        Tensor db({p.out_features()}, DType::F64);
        const Tensor dx = projection_backward(p, dy, x, g, &db);
        const auto loss = [&] { return testing::dot(projection_forward(p, x, &b), dy); };
        std::vector<std::pair<Tensor*, const Tensor*>> pairs = {{&x, &dx}, {&b, &db}};
        for (const auto& [value, grad] :
             {std::pair{&p.weight, &g.weight}, std::pair{&p.blocks, &g.blocks},
              std::pair{&p.U, &g.U}, std::pair{&p.V, &g.V}, std::pair{&p.diag, &g.diag}}) {
            if (value->defined()) pairs.emplace_back(value, grad);
        }
        for (const auto& [value, grad] : pairs) {
            EXPECT_LT(testing::worst_central_difference(*value, *grad, loss), 1e-7) << name;
        }
    }
}

// Low rank: U V has the entry scale of a dense U(±bound) matrix.
TEST(Projection, LowRankInitialScaleMatchesDense) {
    Projection p = Projection::low_rank(256, 256, 16, DType::F64);
    Rng rng(15);
    p.fill_uniform(rng, 0.1);
    const std::vector<double> W = testing::values_of(p.to_dense());
    double sum2 = 0;
    for (const double v : W) sum2 += v * v;
    EXPECT_NEAR(std::sqrt(sum2 / static_cast<double>(W.size())), 0.1 / std::sqrt(3.0), 0.006);
    EXPECT_EQ(p.parameter_count(), 2 * 256 * 16 + 256);
}

TEST(Projection, BadArgumentsAreNamed) {
    EXPECT_ERROR_CONTAINS(Projection::block_sparse(8, 8, 1.0, DType::F32), "sparsity_level");
    EXPECT_ERROR_CONTAINS(Projection::low_rank(8, 4, 5, DType::F32), "low_rank_dim");
    const Projection p = Projection::low_rank(8, 4, 2, DType::F64);
    EXPECT_ERROR_CONTAINS(projection_forward(p, Tensor({3, 5}, DType::F64)), "x");
    Projection wrong = Projection::block_sparse(8, 4, 0.5, DType::F64);
    EXPECT_ERROR_CONTAINS(
        projection_backward(p, Tensor({3, 8}, DType::F64), Tensor({3, 4}, DType::F64), wrong),
        "grads");
}

}  // namespace
}  // namespace structseq
