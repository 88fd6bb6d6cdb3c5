// The small dense kernels of linalg/small_matrix.h against Eigen, in float32 and float64, at
// orders that are and are not multiples of the 16-lane vectors (and of the four-row blocks).

#include "linalg/small_matrix.h"

#include <gtest/gtest.h>
#include <Eigen/Dense>

#include <cstdint>
#include <limits>
#include <random>
#include <utility>
#include <vector>

namespace structseq {
namespace {

using linalg_detail::cholesky_upper_in_place;
using linalg_detail::mirror_upper;
using linalg_detail::solve_transposed_upper;
using linalg_detail::subtract_transposed_upper_product;
using linalg_detail::transpose;
using linalg_detail::transposed_product;
using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

constexpr std::int64_t kOrders[] = {1, 3, 4, 7, 16, 17, 33, 64, 70};

Matrix random_matrix(std::int64_t rows, std::int64_t cols, unsigned seed) {
    std::mt19937 gen(seed);
    std::normal_distribution<double> normal;
    Matrix m(rows, cols);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = normal(gen);
    return m;
}

// The row-major n × n matrix m in a buffer of row stride lda ≥ n, as Real.
template <class Real>
std::vector<Real> buffer_of(const Matrix& m, std::int64_t lda) {
    std::vector<Real> out(static_cast<std::size_t>(m.rows() * lda), Real(0));
    for (Eigen::Index i = 0; i < m.rows(); ++i) {
        for (Eigen::Index j = 0; j < m.cols(); ++j) out[i * lda + j] = static_cast<Real>(m(i, j));
    }
    return out;
}

template <class Real>
Matrix matrix_of(const std::vector<Real>& b, std::int64_t rows, std::int64_t cols,
                 std::int64_t ld) {
    Matrix m(rows, cols);
    for (std::int64_t i = 0; i < rows; ++i) {
        for (std::int64_t j = 0; j < cols; ++j) m(i, j) = b[i * ld + j];
    }
    return m;
}

double relative(const Matrix& a, const Matrix& b) {
    return (a - b).norm() / b.norm();
}

// Tolerance for a product or factorization of order n in Real.
template <class Real>
double tolerance() {
    return sizeof(Real) == 4 ? 1e-5 : 1e-13;
}

template <class Real>
void check_cholesky_and_solve() {
    for (const std::int64_t n : kOrders) {
        const std::int64_t lda = n + 5;  // a row stride that is not the order
        const Matrix X = random_matrix(n + 3, n, 7 + static_cast<unsigned>(n));
        const Matrix A = X.transpose() * X + Matrix::Identity(n, n);
        std::vector<Real> a = buffer_of<Real>(A, lda);
        ASSERT_EQ(cholesky_upper_in_place(a.data(), n, lda), 0) << n;
        const Matrix U = matrix_of(a, n, n, lda).template triangularView<Eigen::Upper>();
        EXPECT_LT(relative(U.transpose() * U, A), tolerance<Real>()) << n;
        // B ← U⁻ᵀ B, B of 21 columns (a tail after the whole vectors) with row stride 24.
        const Matrix B = random_matrix(n, 21, 11);
        std::vector<Real> b = buffer_of<Real>(B, 24);
        solve_transposed_upper(a.data(), n, lda, b.data(), 21, 24);
        EXPECT_LT(relative(U.transpose() * matrix_of(b, n, 21, 24), B), tolerance<Real>()) << n;
    }
}

TEST(SmallMatrix, CholeskyAndForwardSubstitutionMatchTheirDefinitions) {
    check_cholesky_and_solve<float>();
    check_cholesky_and_solve<double>();
}

TEST(SmallMatrix, CholeskyReportsTheFirstNonPositivePivot) {
    // Pivots 1, 1 and a₃₃ − 4: positive for a₃₃ = 5, zero for 4, negative for 3.
    for (const auto& [a33, expected] : {std::pair{5.0, 0}, std::pair{4.0, 3}, std::pair{3.0, 3}}) {
        Matrix A(3, 3);
        A << 1, 1, 0, 1, 2, 2, 0, 2, a33;
        std::vector<double> a = buffer_of<double>(A, 3);
        EXPECT_EQ(cholesky_upper_in_place(a.data(), 3, 3), expected) << a33;
    }
    std::vector<float> nan = {std::numeric_limits<float>::quiet_NaN()};
    EXPECT_EQ(cholesky_upper_in_place(nan.data(), 1, 1), 1);
}

template <class Real>
void check_products() {
    for (const std::int64_t rows : {std::int64_t{5}, std::int64_t{64}}) {
        for (const std::int64_t p : kOrders) {
            const std::int64_t m = p + 9, lda = p + 2, ldb = m + 3, ldc = m + 1;
            const Matrix A = random_matrix(rows, p, 3), B = random_matrix(rows, m, 4);
            std::vector<Real> a = buffer_of<Real>(A, lda), b = buffer_of<Real>(B, ldb);
            std::vector<Real> c(static_cast<std::size_t>(p * ldc), Real(-7));
            transposed_product(a.data(), rows, p, lda, b.data(), m, ldb, c.data(), ldc, false);
            EXPECT_LT(relative(matrix_of(c, p, m, ldc), A.transpose() * B), tolerance<Real>())
                << rows << " " << p;
            // Upper only, A = B: the upper triangle is AᵀA's, and mirroring fills the rest.
            std::vector<Real> g(static_cast<std::size_t>(p * p), Real(-7));
            transposed_product(a.data(), rows, p, lda, a.data(), p, lda, g.data(), p, true);
            mirror_upper(g.data(), p, p);
            EXPECT_LT(relative(matrix_of(g, p, p, p), A.transpose() * A), tolerance<Real>())
                << rows << " " << p;
        }
    }
}

TEST(SmallMatrix, TransposedProductsMatchEigen) {
    check_products<float>();
    check_products<double>();
}

template <class Real>
void check_upper_product() {
    for (const std::int64_t n : kOrders) {
        const Matrix T = Matrix(random_matrix(n, n, 8).triangularView<Eigen::Upper>());
        const Matrix B = random_matrix(n, 37, 9), X = random_matrix(n, 37, 10);
        const std::vector<Real> t = buffer_of<Real>(T, n + 1), b = buffer_of<Real>(B, 40);
        std::vector<Real> x = buffer_of<Real>(X, 38);
        subtract_transposed_upper_product(t.data(), n, n + 1, b.data(), 37, 40, x.data(), 38);
        EXPECT_LT(relative(matrix_of(x, n, 37, 38), X - T.transpose() * B), tolerance<Real>()) << n;
    }
}

TEST(SmallMatrix, TransposedUpperProductIsSubtracted) {
    check_upper_product<float>();
    check_upper_product<double>();
}

template <class Real>
void check_transpose() {
    // 24 rows: an odd number of float tiles, the last without a partner.
    for (const std::int64_t rows : {1, 3, 4, 7, 16, 17, 24, 33, 64, 70}) {
        for (const std::int64_t cols : {std::int64_t{1}, std::int64_t{8}, std::int64_t{19}}) {
            const Matrix S = random_matrix(rows, cols, 5);
            const std::vector<Real> s = buffer_of<Real>(S, cols + 2);
            std::vector<Real> d(static_cast<std::size_t>(cols * (rows + 1)), Real(0));
            transpose(s.data(), rows, cols, cols + 2, d.data(), rows + 1);
            EXPECT_EQ(matrix_of(d, cols, rows, rows + 1),
                      matrix_of(s, rows, cols, cols + 2).transpose())
                << rows << " × " << cols;
        }
    }
}

TEST(SmallMatrix, TransposeMovesEveryElement) {
    check_transpose<float>();
    check_transpose<double>();
}

}  // namespace
}  // namespace structseq
