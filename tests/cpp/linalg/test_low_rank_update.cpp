#include "structseq/linalg/low_rank_update.h"
#include "structseq/linalg/ridge_shrinkage.h"

#include "dense_reference.h"
#include "test_util.h"

namespace structseq {
namespace {

using testing::dense_of;
using testing::random_tensor;

Tensor tensor_of(const Eigen::MatrixXd& m) {
    Tensor t({m.rows(), m.cols()}, DType::F64);
    for (Eigen::Index i = 0; i < m.rows(); ++i) {
        for (Eigen::Index j = 0; j < m.cols(); ++j) t.data<double>()[i * m.cols() + j] = m(i, j);
    }
    return t;
}

// A well-conditioned test matrix: identity plus a small random part.
Eigen::MatrixXd well_conditioned(std::int64_t n, std::uint64_t seed) {
    return Eigen::MatrixXd::Identity(n, n) * 3.0 + dense_of(random_tensor({n, n}, seed)) * 0.3;
}

TEST(ShermanMorrison, MatchesTheDenseInverseOfTheUpdate) {
    const std::int64_t n = 12;
    const Eigen::MatrixXd M = well_conditioned(n, 90);
    const Tensor u = random_tensor({n}, 91), v = random_tensor({n}, 92);
    const Tensor out = sherman_morrison_update(tensor_of(M.inverse()), u, v);
    const Eigen::MatrixXd expected =
        (M + dense_of(u.reshape({n, 1})) * dense_of(v.reshape({n, 1})).transpose()).inverse();
    EXPECT_LT((dense_of(out) - expected).cwiseAbs().maxCoeff(), 1e-12);
    const Tensor out32 = sherman_morrison_update(tensor_of(M.inverse()).to(DType::F32),
                                                 u.to(DType::F32), v.to(DType::F32));
    EXPECT_LT((dense_of(out32) - expected).cwiseAbs().maxCoeff(), 1e-5);
}

TEST(ShermanMorrison, SingularUpdateIsAnError) {
    // M = I, u = -e₀, v = e₀: M + u vᵀ has a zero row.
    Tensor u({3}, DType::F64), v({3}, DType::F64);
    u.data<double>()[0] = -1.0;
    v.data<double>()[0] = 1.0;
    EXPECT_ERROR_CONTAINS(sherman_morrison_update(tensor_of(Eigen::MatrixXd::Identity(3, 3)), u, v),
                          "M + u vᵀ is singular");
}

TEST(Woodbury, MatchesTheDenseInverseEvenWithASingularC) {
    const std::int64_t n = 10, k = 3;
    const Eigen::MatrixXd A = well_conditioned(n, 93);
    const Tensor U = random_tensor({n, k}, 94), V = random_tensor({k, n}, 95);
    Eigen::MatrixXd Cm = dense_of(random_tensor({k, k}, 96)) * 0.2;
    for (const bool singular : {false, true}) {
        if (singular) Cm.row(2).setZero();
        const Tensor out = woodbury_inverse(tensor_of(A.inverse()), U, tensor_of(Cm), V);
        const Eigen::MatrixXd expected = (A + dense_of(U) * Cm * dense_of(V)).inverse();
        EXPECT_LT((dense_of(out) - expected).cwiseAbs().maxCoeff(), 1e-12) << singular;
    }
    EXPECT_ERROR_CONTAINS(woodbury_inverse(tensor_of(A.inverse()), U, random_tensor({2, 2}, 97), V),
                          "C has shape (2, 2), expected (3, 3)");
}

TEST(RidgeShrinkage, EqualsTheRidgeProjectionFormula) {
    const Tensor X = random_tensor({6, 9}, 98);
    const Eigen::MatrixXd Xd = dense_of(X);
    for (const double lam : {0.0, 0.5, 40.0}) {
        const Eigen::MatrixXd gram = Xd * Xd.transpose();
        const Eigen::MatrixXd expected =
            gram * (gram + lam * Eigen::MatrixXd::Identity(6, 6)).inverse();
        EXPECT_LT((dense_of(ridge_shrinkage(X, lam)) - expected).cwiseAbs().maxCoeff(), 1e-12)
            << lam;
    }
    // m > n: directions outside the range of X get 0, so W is a projector of rank n at λ = 0.
    const Tensor wide = random_tensor({8, 3}, 99);
    EXPECT_NEAR(dense_of(ridge_shrinkage(wide, 0.0)).trace(), 3.0, 1e-12);
    EXPECT_ERROR_CONTAINS(ridge_shrinkage(X, -1.0), "lam is -1, expected a finite number >= 0");
}

TEST(RidgeShrinkage, LambdaRangeOfTheSeedExample) {
    const std::vector<double> sigmas = {10, 8, 4, 1, 0.5, 0.36, 0.16, 0.01};
    const auto range = ridge_shrinkage_lambda_range(sigmas, 3);
    ASSERT_TRUE(range.has_value());
    EXPECT_EQ(range->first, 1.0);
    EXPECT_EQ(range->second, 4.0);
    // Unsorted input gives the same interval. Keeping 4 touches at λ = 0.25; keeping 5 cannot
    // separate 0.5 (λ ≤ 0.0625) from 0.36 (λ ≥ 0.1296).
    const std::vector<double> shuffled = {0.5, 4, 0.01, 10, 0.16, 1, 8, 0.36};
    EXPECT_EQ(ridge_shrinkage_lambda_range(shuffled, 3), range);
    EXPECT_EQ(ridge_shrinkage_lambda_range(sigmas, 4), (std::pair{0.25, 0.25}));
    EXPECT_FALSE(ridge_shrinkage_lambda_range(sigmas, 5).has_value());
    EXPECT_EQ(ridge_shrinkage_lambda_range(sigmas, 8)->first, 0.0);
    EXPECT_ERROR_CONTAINS(ridge_shrinkage_lambda_range(sigmas, 9), "keep is 9");
}

}  // namespace
}  // namespace structseq
