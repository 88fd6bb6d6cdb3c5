#include "structseq/linalg/svd.h"

#include "dense_reference.h"
#include "test_util.h"

#include <cmath>
#include <cstring>

namespace structseq {
namespace {

using testing::random_tensor;

// Batch of `batch` (m × n) matrices U₀ diag(σ) V₀ᵀ with σ_j = 10·0.8^j for j < k and a noise
// floor 0.05·0.98^j after: low rank plus noise, the case randomized SVD is for. Returns the
// matrices and the optimal rank-k Frobenius error sqrt(Σ_{j≥k} σ_j²).
std::pair<Tensor, double> low_rank_plus_noise(std::int64_t batch, std::int64_t m, std::int64_t n,
                                              std::int64_t k, std::uint64_t seed) {
    const std::int64_t r = std::min(m, n);
    Eigen::VectorXd sigma(r);
    double tail = 0;
    for (std::int64_t j = 0; j < r; ++j) {
        sigma(j) = j < k ? 10.0 * std::pow(0.8, j) : 0.05 * std::pow(0.98, j);
        if (j >= k) tail += sigma(j) * sigma(j);
    }
    Tensor M({batch, m, n}, DType::F64);
    for (std::int64_t b = 0; b < batch; ++b) {
        const Eigen::MatrixXd U0 =
            testing::dense_of(random_tensor({m, r}, seed + 2 * b)).householderQr().householderQ() *
            Eigen::MatrixXd::Identity(m, r);
        const Eigen::MatrixXd V0 = testing::dense_of(random_tensor({n, r}, seed + 2 * b + 1))
                                       .householderQr()
                                       .householderQ() *
                                   Eigen::MatrixXd::Identity(n, r);
        const Eigen::MatrixXd dense = U0 * sigma.asDiagonal() * V0.transpose();
        for (std::int64_t i = 0; i < m; ++i) {
            for (std::int64_t j = 0; j < n; ++j)
                M.data<double>()[(b * m + i) * n + j] = dense(i, j);
        }
    }
    return {M, std::sqrt(tail)};
}

struct Factors {
    Eigen::MatrixXd U, Vh;
    Eigen::VectorXd S;
};

Factors factors_of(const SvdResult& r, std::int64_t b) {
    const std::int64_t m = r.U.dim(-2), k = r.U.dim(-1), n = r.Vh.dim(-1);
    Factors f;
    f.U = testing::dense_of(r.U.select(0, b).contiguous());
    f.Vh = testing::dense_of(r.Vh.select(0, b).contiguous());
    f.S = testing::dense_of(r.S.select(0, b).contiguous().reshape({k, 1}));
    EXPECT_EQ(f.U.rows(), m);
    EXPECT_EQ(f.Vh.cols(), n);
    return f;
}

double orthogonality_error(const Eigen::MatrixXd& Q) {
    return (Q.transpose() * Q - Eigen::MatrixXd::Identity(Q.cols(), Q.cols()))
        .cwiseAbs()
        .maxCoeff();
}

TEST(FullSvd, ReconstructsWithOrthonormalFactorsAndEigenSingularValues) {
    for (const auto& [m, n] :
         {std::pair<std::int64_t, std::int64_t>{1, 1}, {7, 3}, {3, 7}, {64, 64}}) {
        const Tensor M = random_tensor({2, m, n}, 30 + m * n);
        const SvdResult r = full_svd(M);
        const std::int64_t k = std::min(m, n);
        ASSERT_EQ(r.U.shape(), (Shape{2, m, k}));
        ASSERT_EQ(r.S.shape(), (Shape{2, k}));
        ASSERT_EQ(r.Vh.shape(), (Shape{2, k, n}));
        for (std::int64_t b = 0; b < 2; ++b) {
            const Factors f = factors_of(r, b);
            const Eigen::MatrixXd dense = testing::dense_of(M.select(0, b).contiguous());
            // Backward stable: error within a small multiple of (m + n)·eps·‖M‖.
            const double bound = 8.0 * (m + n) * 2.2e-16 * dense.norm();
            EXPECT_LT((f.U * f.S.asDiagonal() * f.Vh - dense).norm(), bound);
            EXPECT_LT(orthogonality_error(f.U), 1e-13);
            EXPECT_LT(orthogonality_error(f.Vh.transpose()), 1e-13);
            const Eigen::VectorXd expected =
                Eigen::JacobiSVD<Eigen::MatrixXd>(dense).singularValues();
            EXPECT_LT((f.S - expected).cwiseAbs().maxCoeff(), 1e-12 * expected(0));
            for (std::int64_t j = 1; j < k; ++j) EXPECT_GE(f.S(j - 1), f.S(j));
        }
    }
}

TEST(RandomizedSvd, Float32ReachesOptimalRankKErrorWithinOnePercent) {
    // Seed 003's KV-cache case: (8, 512, 128), k = 16, n_iter = 2, oversampling = 5.
    const auto [M, optimal] = low_rank_plus_noise(8, 512, 128, 16, 40);
    const SvdResult r = batched_randomized_svd(M.to(DType::F32), 16, 2, 5, 0);
    ASSERT_EQ(r.U.dtype(), DType::F32);
    for (std::int64_t b = 0; b < 8; ++b) {
        const Factors f = factors_of(r, b);
        const Eigen::MatrixXd dense = testing::dense_of(M.select(0, b).contiguous());
        const double error = (f.U * f.S.asDiagonal() * f.Vh - dense).norm();
        EXPECT_LE(error, 1.01 * optimal) << "matrix " << b;
        EXPECT_LT(orthogonality_error(f.U), 1e-5);
        EXPECT_LT(orthogonality_error(f.Vh.transpose()), 1e-5);
        for (std::int64_t j = 1; j < 16; ++j) EXPECT_GE(f.S(j - 1), f.S(j));
    }
}

TEST(RandomizedSvd, RankDeficientInputFallsBackToHouseholderAndStaysExact) {
    // Exactly rank 3 with k + oversampling = 9 columns: the sketch is numerically rank 3, too
    // ill-conditioned for CholeskyQR.
    const Tensor A = random_tensor({1, 60, 3}, 50), B = random_tensor({1, 3, 40}, 51);
    const Eigen::MatrixXd dense = testing::dense_of(A.select(0, 0).contiguous()) *
                                  testing::dense_of(B.select(0, 0).contiguous());
    Tensor M({1, 60, 40}, DType::F64);
    Eigen::Map<Eigen::Matrix<double, -1, -1, Eigen::RowMajor>>(M.data<double>(), 60, 40) = dense;
    const SvdResult r = batched_randomized_svd(M, 4, 2, 5, 7);
    const Factors f = factors_of(r, 0);
    EXPECT_LT((f.U * f.S.asDiagonal() * f.Vh - dense).norm(), 1e-12 * dense.norm());
    EXPECT_LT(orthogonality_error(f.U), 1e-12);
    EXPECT_LT(f.S(3), 1e-12 * f.S(0));
}

TEST(RandomizedSvd, FallsBackToFullSvdWhenTheSketchIsNotSmaller) {
    const Tensor M = random_tensor({3, 20, 12}, 52);
    const SvdResult r = batched_randomized_svd(M, 8, 2, 5, 0);  // 8 + 5 >= 12
    const SvdResult full = full_svd(M);
    for (std::int64_t b = 0; b < 3; ++b) {
        for (std::int64_t j = 0; j < 8; ++j) {
            EXPECT_NEAR(r.S.data<double>()[b * 8 + j], full.S.data<double>()[b * 12 + j], 1e-12);
        }
    }
}

TEST(RandomizedSvd, SameSeedSameBitsOtherSeedOtherSketch) {
    const Tensor M = random_tensor({4, 100, 50}, 53);
    const SvdResult a = batched_randomized_svd(M, 5, 1, 3, 11);
    const SvdResult b = batched_randomized_svd(M, 5, 1, 3, 11);
    const SvdResult c = batched_randomized_svd(M, 5, 1, 3, 12);
    EXPECT_EQ(std::memcmp(a.U.raw_data(), b.U.raw_data(), a.U.nbytes()), 0);
    EXPECT_NE(std::memcmp(a.U.raw_data(), c.U.raw_data(), a.U.nbytes()), 0);
}

TEST(RandomizedSvd, BadInputIsAClearError) {
    const Tensor M = random_tensor({2, 10, 6}, 54);
    EXPECT_ERROR_CONTAINS(batched_randomized_svd(M, 0), "k is 0, expected 1 <= k <= min(m, n) = 6");
    EXPECT_ERROR_CONTAINS(batched_randomized_svd(M, 7), "k is 7");
    Tensor bad = M.clone();
    bad.data<double>()[17] = INFINITY;
    EXPECT_ERROR_CONTAINS(batched_randomized_svd(bad, 2), "M holds inf at flat index 17");
    EXPECT_ERROR_CONTAINS(full_svd(random_tensor({5}, 55)), "expected shape (..., m, n)");
}

}  // namespace
}  // namespace structseq
