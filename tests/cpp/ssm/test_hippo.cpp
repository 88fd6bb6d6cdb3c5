#include "structseq/ssm/hippo.h"

#include "test_util.h"

#include <Eigen/Dense>

#include <cmath>
#include <complex>

namespace structseq {
namespace {

using Cd = std::complex<double>;
using CMatrix = Eigen::Matrix<Cd, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

CMatrix complex_of(const Tensor& t, Eigen::Index rows, Eigen::Index cols) {
    const Tensor c = t.to(DType::C128);
    return Eigen::Map<const CMatrix>(c.data<Cd>(), rows, cols);
}

TEST(Hippo, LegsEntries) {
    const HippoMatrices h = hippo("legs", 5);
    const Tensor A = h.A;
    const double* a = A.data<double>();
    for (int n = 0; n < 5; ++n) {
        EXPECT_DOUBLE_EQ(h.B.data<double>()[n], std::sqrt(2.0 * n + 1));
        for (int k = 0; k < 5; ++k) {
            const double expected = n > k    ? -std::sqrt(2.0 * n + 1) * std::sqrt(2.0 * k + 1)
                                    : n == k ? -(n + 1.0)
                                             : 0.0;
            EXPECT_DOUBLE_EQ(a[n * 5 + k], expected) << n << "," << k;
        }
    }
}

TEST(Hippo, LegtSignPattern) {
    const HippoMatrices h = hippo("legt", 4);
    const double* a = h.A.data<double>();
    // Above the diagonal the sign alternates: A_01 = +½√1√3, A_02 = −½√1√5.
    EXPECT_DOUBLE_EQ(a[1], 0.5 * std::sqrt(3.0));
    EXPECT_DOUBLE_EQ(a[2], -0.5 * std::sqrt(5.0));
    EXPECT_DOUBLE_EQ(a[4], -0.5 * std::sqrt(3.0));
    EXPECT_DOUBLE_EQ(h.B.data<double>()[3], 0.5 * std::sqrt(7.0));
}

TEST(Hippo, NplrReconstructsEveryMeasure) {
    for (const char* measure : {"legs", "legt", "fout"}) {
        const std::int64_t N = 12;
        const HippoMatrices dense = hippo(measure, N);
        const HippoNplr nplr = hippo_nplr(measure, N);
        const std::int64_t rank = nplr.P.dim(0);
        EXPECT_EQ(rank, std::string(measure) == "legt" ? 2 : 1);
        const CMatrix V = complex_of(nplr.V, N, N);
        const CMatrix P = complex_of(nplr.P, rank, N);
        const CMatrix Lambda = complex_of(nplr.Lambda, N, 1);
        const CMatrix rebuilt =
            V * (CMatrix(Lambda.col(0).asDiagonal()) - P.transpose() * P.conjugate()) * V.adjoint();
        const CMatrix A = complex_of(dense.A, N, N);
        EXPECT_LT((rebuilt - A).norm() / A.norm(), 1e-12) << measure;
        EXPECT_LT((V.adjoint() * V - CMatrix::Identity(N, N)).norm(), 1e-12) << measure;
        const CMatrix B = complex_of(dense.B, N, 1);
        EXPECT_LT((V * complex_of(nplr.B, N, 1) - B).norm() / B.norm(), 1e-12) << measure;
    }
}

TEST(Hippo, RejectsUnknownMeasureAndOddFourierSize) {
    EXPECT_ERROR_CONTAINS(hippo("laguerre", 4), "measure");
    EXPECT_ERROR_CONTAINS(hippo("fout", 3), "even");
    EXPECT_ERROR_CONTAINS(hippo_nplr("legs", -1), "N");
}

}  // namespace
}  // namespace structseq
