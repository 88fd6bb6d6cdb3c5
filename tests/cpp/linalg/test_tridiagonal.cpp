#include "structseq/linalg/tridiagonal.h"

#include "dense_reference.h"
#include "structseq/core/threads.h"
#include "test_util.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace structseq {
namespace {

using testing::dense_tridiagonal;
using testing::random_tensor;
using testing::relative_max_error;
using testing::shifted_inverse;
using C = std::complex<double>;

Tensor filled(Shape shape, double value) {
    Tensor t(std::move(shape), DType::F64);
    for (std::int64_t i = 0; i < t.numel(); ++i) t.data<double>()[i] = value;
    return t;
}

// Shapes swept by the tests: length 1 and 2, sizes around the 16-row lane blocks, a batch that
// is not a multiple of the block, and shared or per-row off-diagonals.
struct Case {
    std::int64_t batch;
    std::int64_t n;
    bool shared_off_diagonals;
};

const Case kCases[] = {{1, 1, false},   {1, 2, true},   {3, 1, true},
                       {5, 17, false},  {9, 21, true},  {16, 33, true},
                       {17, 64, false}, {40, 70, true}, {2, 300, false}};

TEST(TridiagonalMatvec, MatchesDense) {
    for (const Case& k : kCases) {
        const Tensor a = random_tensor({k.batch, k.n}, 1);
        const Shape off = k.shared_off_diagonals ? Shape{k.n - 1} : Shape{k.batch, k.n - 1};
        const Tensor b = random_tensor(off, 2), c = random_tensor(off, 3);
        const Tensor x = random_tensor({k.batch, k.n}, 4);
        const Tensor y = tridiagonal_matvec(a, b, c, x);
        for (std::int64_t r = 0; r < k.batch; ++r) {
            const Eigen::VectorXd expected =
                dense_tridiagonal(a, b, c, r) *
                Eigen::Map<const Eigen::VectorXd>(x.data<double>() + r * k.n, k.n);
            for (std::int64_t i = 0; i < k.n; ++i) {
                EXPECT_NEAR(y.data<double>()[r * k.n + i], expected(i), 1e-13) << k.n;
            }
        }
    }
}

TEST(TridiagonalSolve, MatchesDenseLuIncludingZeroLeadingEntry) {
    for (const Case& k : kCases) {
        Tensor a = random_tensor({k.batch, k.n}, 5);
        if (k.n > 1) a.data<double>()[0] = 0.0;  // a₁ = 0: only pivoting gets this right
        const Shape off = k.shared_off_diagonals ? Shape{k.n - 1} : Shape{k.batch, k.n - 1};
        const Tensor b = random_tensor(off, 6), c = random_tensor(off, 7);
        const Tensor rhs = random_tensor({k.batch, k.n}, 8);
        for (const C z : {C(0.0, 0.0), C(0.3, -0.7)}) {
            const Tensor x = tridiagonal_solve(a, b, c, rhs, z);
            ASSERT_EQ(x.dtype(), z.imag() == 0 ? DType::F64 : DType::C128);
            const Tensor xc = x.to(DType::C128);
            for (std::int64_t r = 0; r < k.batch; ++r) {
                const testing::DenseMatrix T = dense_tridiagonal(a, b, c, r);
                const Eigen::VectorXcd expected =
                    shifted_inverse(T, z) *
                    Eigen::Map<const Eigen::VectorXd>(rhs.data<double>() + r * k.n, k.n).cast<C>();
                // Random tridiagonal systems have condition numbers up to ~1e4 here.
                EXPECT_LT(relative_max_error(xc.data<C>() + r * k.n, expected.data(), k.n), 1e-9);
            }
        }
    }
}

TEST(TridiagonalSolve, SingularSystemIsAnErrorNotNaN) {
    // [[1, 1], [1, 1]] is singular.
    EXPECT_ERROR_CONTAINS(
        tridiagonal_solve(filled({2}, 1.0), filled({1}, 1.0), filled({1}, 1.0), filled({2}, 1.0)),
        "singular");
    EXPECT_ERROR_CONTAINS(
        tridiagonal_solve(filled({3}, 0.0), filled({2}, 0.0), filled({2}, 0.0), filled({3}, 1.0)),
        "pivot 0 of row 0");
}

TEST(TridiagonalSolve, ComplexRightHandSideAndFloat32) {
    const Tensor a = random_tensor({20}, 9), b = random_tensor({19}, 10),
                 c = random_tensor({19}, 11);
    Tensor rhs({20}, DType::C128);
    for (std::int64_t i = 0; i < 20; ++i) rhs.data<C>()[i] = C(std::cos(i), std::sin(i));
    const Tensor x = tridiagonal_solve(a, b, c, rhs);
    const Eigen::VectorXcd expected = shifted_inverse(dense_tridiagonal(a, b, c), 0.0) *
                                      Eigen::Map<const Eigen::VectorXcd>(rhs.data<C>(), 20);
    EXPECT_LT(relative_max_error(x.data<C>(), expected.data(), 20), 1e-10);
    const Tensor x32 =
        tridiagonal_solve(a.to(DType::F32), b.to(DType::F32), c.to(DType::F32), rhs.to(DType::C64));
    ASSERT_EQ(x32.dtype(), DType::C64);
    // float32: rounding of inputs and of the elimination, times the condition number (~1e2).
    EXPECT_LT(relative_max_error(x32.to(DType::C128).data<C>(), expected.data(), 20), 1e-4);
}

TEST(TridiagonalResolventDiagonal, MatchesDenseInverseTo1e12) {
    for (const Case& k : kCases) {
        const Tensor a = random_tensor({k.batch, k.n}, 12);
        const Shape off = k.shared_off_diagonals ? Shape{k.n - 1} : Shape{k.batch, k.n - 1};
        const Tensor b = random_tensor(off, 13), c = random_tensor(off, 14);
        for (const C z : {C(0.0, 1.0), C(-0.5, 0.25)}) {
            PivotStats stats;
            const Tensor g = tridiagonal_resolvent_diagonal(a, b, c, z, &stats);
            ASSERT_EQ(g.shape(), (Shape{k.batch, k.n}));
            double min_pivot = std::numeric_limits<double>::infinity();
            for (std::int64_t r = 0; r < k.batch; ++r) {
                const testing::DenseComplexMatrix G =
                    shifted_inverse(dense_tridiagonal(a, b, c, r), z);
                const Eigen::VectorXcd expected = G.diagonal();
                EXPECT_LT(relative_max_error(g.data<C>() + r * k.n, expected.data(), k.n), 1e-12)
                    << "batch " << k.batch << " n " << k.n << " row " << r;
                // The reported minimum is the smallest forward pivot d_i = det_i / det_{i-1}
                // (a plain loop; the determinants confirm it on short rows).
                const testing::DenseMatrix T = dense_tridiagonal(a, b, c, r);
                C d = T(0, 0) - z;
                min_pivot = std::min(min_pivot, std::abs(d));
                for (std::int64_t i = 1; i < k.n; ++i) {
                    d = T(i, i) - z - T(i - 1, i) * T(i, i - 1) / d;
                    min_pivot = std::min(min_pivot, std::abs(d));
                }
                if (k.n <= 30) {
                    const testing::DenseComplexMatrix shifted =
                        T.cast<C>() - z * testing::DenseComplexMatrix::Identity(k.n, k.n);
                    C previous = 1.0;
                    for (std::int64_t i = 1; i <= k.n; ++i) {
                        const C det = shifted.topLeftCorner(i, i).determinant();
                        EXPECT_GE(std::abs(det / previous), min_pivot * (1 - 1e-9));
                        previous = det;
                    }
                }
            }
            EXPECT_NEAR(stats.min_abs_pivot, min_pivot, 1e-9 * min_pivot);
        }
    }
}

TEST(TridiagonalLeadingResolvent, IsTheLastEntryOfEachLeadingBlockInverse) {
    for (const std::int64_t batch : {1, 9, 17, 40}) {
        const std::int64_t n = 30;
        const Tensor a = random_tensor({batch, n}, 30), b = random_tensor({n - 1}, 31),
                     c = random_tensor({n - 1}, 32);
        const C z(0.2, 0.6);
        for (const DType dtype : {DType::F64, DType::F32}) {
            const Tensor ad = a.to(dtype), bd = b.to(dtype), cd = c.to(dtype);
            Tensor out({batch, n}, dtype == DType::F64 ? DType::C128 : DType::C64);
            if (dtype == DType::F64) {
                const TridiagonalRows<double> rows{
                    ad.data<double>(), bd.data<double>(), cd.data<double>(), n, 0, 0, batch, n};
                tridiagonal_leading_resolvent_rows(rows, z, out.data<C>());
            } else {
                const TridiagonalRows<float> rows{
                    ad.data<float>(), bd.data<float>(), cd.data<float>(), n, 0, 0, batch, n};
                tridiagonal_leading_resolvent_rows(rows, std::complex<float>(z),
                                                   out.data<std::complex<float>>());
            }
            const Tensor got = out.to(DType::C128);
            // float32: a few ulps per pivot along a chain with |Im z| = 0.6.
            const double tolerance = dtype == DType::F64 ? 1e-12 : 1e-5;
            for (std::int64_t r = 0; r < batch; ++r) {
                const testing::DenseMatrix T = dense_tridiagonal(a, b, c, r);
                Eigen::VectorXcd expected(n);
                for (std::int64_t i = 0; i < n; ++i) {
                    expected(i) = shifted_inverse(T.topLeftCorner(i + 1, i + 1), z)(i, i);
                }
                EXPECT_LT(relative_max_error(got.data<C>() + r * n, expected.data(), n), tolerance)
                    << "batch " << batch << " row " << r;
            }
        }
    }
}

// A main_shift added on the fly gives the same bits as the materialized sum, in the lane
// blocks (16 and 8 rows), the one-row path and the leading variant; a zero pivot that exists
// only in the sum is named by its row.
TEST(TridiagonalResolventDiagonal, MainShiftEqualsTheMaterializedSum) {
    for (const std::int64_t batch : {3, 9, 40}) {
        const std::int64_t n = 23;
        const Tensor v = random_tensor({batch, n}, 40), h = random_tensor({n}, 41),
                     b = random_tensor({n - 1}, 42);
        Tensor sum({batch, n}, DType::F64);
        for (std::int64_t k = 0; k < batch * n; ++k) {
            sum.data<double>()[k] = v.data<double>()[k] + h.data<double>()[k % n];
        }
        const TridiagonalRows<double> shifted{
            v.data<double>(), b.data<double>(), b.data<double>(), n, 0, 0, batch, n};
        const TridiagonalRows<double> plain{
            sum.data<double>(), b.data<double>(), b.data<double>(), n, 0, 0, batch, n};
        const C z(0.1, 0.7);
        for (const bool leading : {false, true}) {
            Tensor got({batch, n}, DType::C128), expected({batch, n}, DType::C128);
            if (leading) {
                tridiagonal_leading_resolvent_rows(shifted, z, got.data<C>(), h.data<double>());
                tridiagonal_leading_resolvent_rows(plain, z, expected.data<C>());
            } else {
                tridiagonal_resolvent_diagonal_rows(shifted, z, got.data<C>(), h.data<double>());
                tridiagonal_resolvent_diagonal_rows(plain, z, expected.data<C>());
            }
            EXPECT_EQ(std::memcmp(got.raw_data(), expected.raw_data(), got.nbytes()), 0)
                << "batch " << batch << " leading " << leading;
        }
    }
    // Row 21, position 0: v = -h, so the shifted main diagonal is 0 and d_0 = 0 at z = 0.
    const std::int64_t n = 8;
    Tensor v = random_tensor({40, n}, 43);
    const Tensor h = random_tensor({n}, 44), off = filled({n - 1}, 0.0);
    v.data<double>()[21 * n] = -h.data<double>()[0];
    const TridiagonalRows<double> rows{
        v.data<double>(), off.data<double>(), off.data<double>(), n, 0, 0, 40, n};
    Tensor out({40, n}, DType::C128);
    EXPECT_ERROR_CONTAINS(
        tridiagonal_resolvent_diagonal_rows(rows, C(0.0), out.data<C>(), h.data<double>()),
        "forward pivot d_0 of row 21");
}

TEST(TridiagonalResolventDiagonal, Float32AgreesWithFloat64) {
    const Tensor a = random_tensor({20, 500}, 15), b = random_tensor({499}, 16);
    const Tensor g64 = tridiagonal_resolvent_diagonal(a, b, b, C(0.1, 0.8));
    const Tensor g32 = tridiagonal_resolvent_diagonal(a.to(DType::F32), b.to(DType::F32),
                                                      b.to(DType::F32), C(0.1, 0.8));
    ASSERT_EQ(g32.dtype(), DType::C64);
    // Each pivot adds a few ulps of float32; with |Im z| = 0.8 errors do not grow along the
    // chain, so 1e-5 of the largest entry bounds them.
    EXPECT_LT(relative_max_error(g32.to(DType::C128).data<C>(), g64.data<C>(), g64.numel()), 1e-5);
}

// The Laplacian with z = i: the θ/φ determinants overflow complex128 near N ≈ 970, the pivots
// never do. Deep inside the chain G_ii tends to the bulk value 1/sqrt((2 - z)² - 4) (the branch
// with Im G > 0), and near the ends it matches a short chain.
TEST(TridiagonalResolventDiagonal, LaplacianOfTenMillionIsFiniteAndConsistent) {
    const std::int64_t n = 10'000'000;
    const Tensor a = filled({n}, 2.0), off = filled({n - 1}, -1.0);
    const Tensor g = tridiagonal_resolvent_diagonal(a, off, off, C(0.0, 1.0));
    const C* v = g.data<C>();
    for (std::int64_t i = 0; i < n; i += 997) ASSERT_TRUE(std::isfinite(std::abs(v[i]))) << i;
    C bulk = 1.0 / std::sqrt(C(2.0, -1.0) * C(2.0, -1.0) - 4.0);
    if (bulk.imag() < 0) bulk = -bulk;
    EXPECT_LT(std::abs(v[n / 2] - bulk), 1e-12);
    const std::int64_t m = 2000;
    const Tensor short_chain = tridiagonal_resolvent_diagonal(
        filled({m}, 2.0), filled({m - 1}, -1.0), filled({m - 1}, -1.0), C(0.0, 1.0));
    for (std::int64_t i = 0; i < 100; ++i) {
        EXPECT_LT(std::abs(v[i] - short_chain.data<C>()[i]), 1e-12) << i;
        EXPECT_LT(std::abs(v[n - 1 - i] - short_chain.data<C>()[m - 1 - i]), 1e-12) << i;
    }
}

TEST(TridiagonalResolventDiagonal, ZeroPivotAndNaNAreErrors) {
    // [[0, 1], [-1, 0]] at z = 0: d_0 = 0.
    Tensor b = filled({1}, 1.0), c = filled({1}, -1.0);
    EXPECT_ERROR_CONTAINS(tridiagonal_resolvent_diagonal(filled({2}, 0.0), b, c, 0.0),
                          "forward pivot d_0 of row 0");
    // A zero pivot in row 21 of a 40-row batch (second lane block) is named.
    Tensor a = random_tensor({40, 8}, 17);
    a.data<double>()[21 * 8] = 0.0;
    const Tensor off = filled({7}, 0.0);
    EXPECT_ERROR_CONTAINS(tridiagonal_resolvent_diagonal(a, off, off, 0.0), "of row 21");
    Tensor nan_a = random_tensor({3, 8}, 18);
    nan_a.data<double>()[13] = std::nan("");
    EXPECT_ERROR_CONTAINS(
        tridiagonal_resolvent_diagonal(nan_a, filled({7}, 1.0), filled({7}, 1.0), C(0.0, 1.0)),
        "row 1");
}

TEST(TridiagonalResolventDiagonal, SameBitsWhateverTheThreadCount) {
    const Tensor a = random_tensor({37, 129}, 19), b = random_tensor({129 - 1}, 20);
    const auto with_threads = [&](int threads) {
        const testing::ThreadCount scope(threads);
        return tridiagonal_resolvent_diagonal(a, b, b, C(0.2, 0.5));
    };
    const Tensor one = with_threads(1), two = with_threads(2);
    EXPECT_EQ(std::memcmp(one.raw_data(), two.raw_data(), one.nbytes()), 0);
}

TEST(TridiagonalResolventEntries, MatchDenseInverseWithZerosAndFarPairs) {
    const std::int64_t n = 600;
    const Tensor a = random_tensor({2, n}, 21);
    Tensor b = random_tensor({n - 1}, 22), c = random_tensor({n - 1}, 23);
    b.data<double>()[100] = 0.0;  // splits the upper triangle
    c.data<double>()[400] = 0.0;  // splits the lower triangle
    Tensor rows({200}, DType::I64), cols({200}, DType::I64);
    for (std::int64_t k = 0; k < 200; ++k) {
        rows.data<std::int64_t>()[k] = (k * 37) % n;
        cols.data<std::int64_t>()[k] = (k * 101 + 7) % n;
    }
    rows.data<std::int64_t>()[0] = 0;
    cols.data<std::int64_t>()[0] = n - 1;
    const C z(0.05, 0.3);
    const Tensor g = tridiagonal_resolvent_entries(a, b, c, z, rows, cols);
    ASSERT_EQ(g.shape(), (Shape{2, 200}));
    for (std::int64_t r = 0; r < 2; ++r) {
        const testing::DenseComplexMatrix G = shifted_inverse(dense_tridiagonal(a, b, c, r), z);
        const double scale = G.cwiseAbs().maxCoeff();
        for (std::int64_t k = 0; k < 200; ++k) {
            const std::int64_t i = rows.data<std::int64_t>()[k], j = cols.data<std::int64_t>()[k];
            // Sums of up to N logarithms lose ~N·eps relative; 1e-11 of the largest entry.
            EXPECT_LT(std::abs(g.data<C>()[r * 200 + k] - G(i, j)), 1e-11 * scale)
                << i << ", " << j;
        }
    }
}

TEST(TridiagonalResolventEntries, LongLaplacianCornerDoesNotOverflow) {
    // G_{0, N-1} of the Laplacian at z = i decays like e^{-κN}: the products underflow, the
    // log form returns the tiny value (or 0), never inf/NaN.
    const std::int64_t n = 5000;
    Tensor rows({2}, DType::I64), cols({2}, DType::I64);
    rows.data<std::int64_t>()[0] = 0;
    cols.data<std::int64_t>()[0] = n - 1;
    rows.data<std::int64_t>()[1] = n / 2;
    cols.data<std::int64_t>()[1] = n / 2 + 1;
    const Tensor g = tridiagonal_resolvent_entries(filled({n}, 2.0), filled({n - 1}, -1.0),
                                                   filled({n - 1}, -1.0), C(0.0, 1.0), rows, cols);
    EXPECT_TRUE(std::isfinite(std::abs(g.data<C>()[0])));
    EXPECT_LT(std::abs(g.data<C>()[0]), 1e-100);
    // Bulk nearest-neighbour entry: G_{i,i+1} = G_ii · (1 - (2 - z) G_ii) / (2 t G_ii) … checked
    // against a short chain instead.
    const std::int64_t m = 400;
    Tensor r2({1}, DType::I64), c2({1}, DType::I64);
    r2.data<std::int64_t>()[0] = m / 2;
    c2.data<std::int64_t>()[0] = m / 2 + 1;
    const Tensor short_chain = tridiagonal_resolvent_entries(
        filled({m}, 2.0), filled({m - 1}, -1.0), filled({m - 1}, -1.0), C(0.0, 1.0), r2, c2);
    EXPECT_LT(std::abs(g.data<C>()[1] - short_chain.data<C>()[0]), 1e-12);
}

TEST(Tridiagonal, BadArgumentsNameTheArgument) {
    const Tensor a = random_tensor({2, 5}, 24), b = random_tensor({4}, 25);
    EXPECT_ERROR_CONTAINS(tridiagonal_matvec(a, random_tensor({3}, 26), b, random_tensor({5}, 27)),
                          "b is shape (3,)");
    EXPECT_ERROR_CONTAINS(tridiagonal_matvec(a, b, b, random_tensor({3, 5}, 28)),
                          "x is batch shape (3,)");
    EXPECT_ERROR_CONTAINS(tridiagonal_solve(a, b.to(DType::F32), b, random_tensor({5}, 29)),
                          "b dtype is float32, expected float64");
    EXPECT_ERROR_CONTAINS(tridiagonal_resolvent_diagonal(a, b, b, C(NAN, 0.0)), "z is nan");
    Tensor rows({1}, DType::I64), cols({1}, DType::I64);
    rows.data<std::int64_t>()[0] = 5;
    EXPECT_ERROR_CONTAINS(tridiagonal_resolvent_entries(a, b, b, C(0, 1), rows, cols),
                          "rows[0] is 5, expected an index in [0, 5)");
}

}  // namespace
}  // namespace structseq
