#include "structseq/ssm/hippo.h"

#include "ssm/eigen_tensor.h"
#include "structseq/core/error.h"

#include <Eigen/Eigenvalues>

#include <cmath>
#include <numbers>

namespace structseq {

namespace {

using namespace ssm_detail;

void check_size(std::string_view where, std::string_view measure, std::int64_t N) {
    check_argument(measure == "legs" || measure == "legt" || measure == "fout", where, "measure",
                   fmt::format("\"{}\"", measure), "\"legs\", \"legt\" or \"fout\"");
    check_argument(N >= 1 && N <= 8192, where, "N", fmt::format("{}", N),
                   "a state size in [1, 8192]");
    check_argument(measure != "fout" || N % 2 == 0, where, "N", fmt::format("{}", N),
                   "an even size for \"fout\" (sine/cosine pairs)");
}

RowMatrix fout_b(std::int64_t N) {
    RowMatrix B = RowMatrix::Zero(N, 1);
    for (std::int64_t n = 0; n < N; n += 2) B(n, 0) = std::sqrt(2.0);
    B(0, 0) = 1;
    return B;
}

std::pair<RowMatrix, RowMatrix> transition(std::string_view measure, std::int64_t N) {
    RowMatrix A = RowMatrix::Zero(N, N), B(N, 1);
    if (measure == "legs") {
        for (std::int64_t n = 0; n < N; ++n) {
            B(n, 0) = std::sqrt(2.0 * n + 1);
            A(n, n) = -(n + 1.0);
            for (std::int64_t k = 0; k < n; ++k) {
                A(n, k) = -std::sqrt(2.0 * n + 1) * std::sqrt(2.0 * k + 1);
            }
        }
    } else if (measure == "legt") {
        for (std::int64_t n = 0; n < N; ++n) {
            B(n, 0) = 0.5 * std::sqrt(2.0 * n + 1);
            for (std::int64_t k = 0; k < N; ++k) {
                const double sign = n >= k || (k - n) % 2 == 0 ? 1.0 : -1.0;
                A(n, k) = -0.5 * std::sqrt(2.0 * n + 1) * std::sqrt(2.0 * k + 1) * sign;
            }
        }
    } else {
        // d = (0, 1, 0, 2, …)[1:]: the frequency of each sine/cosine pair on the first
        // super-diagonal, at the odd positions.
        for (std::int64_t i = 0; i + 1 < N; ++i) {
            const double d = (i % 2 == 0) ? static_cast<double>(i / 2 + 1) : 0.0;
            A(i, i + 1) = -std::numbers::pi * d;
            A(i + 1, i) = std::numbers::pi * d;
        }
        B = fout_b(N);
        A -= B * B.transpose();
    }
    return {A, B};
}

// p (rank, N) with A + pᵀ p normal.
RowMatrix rank_correction(std::string_view measure, std::int64_t N) {
    if (measure == "legs") {
        RowMatrix p(1, N);
        for (std::int64_t n = 0; n < N; ++n) p(0, n) = std::sqrt(n + 0.5);
        return p;
    }
    if (measure == "legt") {
        RowMatrix p = RowMatrix::Zero(2, N);
        for (std::int64_t n = 0; n < N; ++n) p(n % 2 == 0 ? 1 : 0, n) = std::sqrt(n + 0.5);
        return p;
    }
    return fout_b(N).transpose();
}

}  // namespace

HippoMatrices hippo(std::string_view measure, std::int64_t N) {
    check_size("hippo", measure, N);
    const auto [A, B] = transition(measure, N);
    return {tensor_from(A, {N, N}, DType::F64), tensor_from(B, {N, 1}, DType::F64)};
}

HippoNplr hippo_nplr(std::string_view measure, std::int64_t N) {
    constexpr std::string_view where = "hippo_nplr";
    check_size(where, measure, N);
    const auto [A, B] = transition(measure, N);
    const RowMatrix p = rank_correction(measure, N);
    const RowMatrix normal = A + p.transpose() * p;
    const double c = normal.diagonal().mean();
    const RowMatrix S = normal - c * RowMatrix::Identity(N, N);
    const double asymmetry = (S + S.transpose()).cwiseAbs().maxCoeff();
    if (asymmetry > 1e-9 * (1 + S.cwiseAbs().maxCoeff())) {
        fail("{}: internal error: A + P^T P - cI is not skew-symmetric (|S + S^T| = {:.3g})", where,
             asymmetry);
    }
    // −i S is Hermitian: S = V diag(i w) Vᴴ.
    const RowMatrixC hermitian = std::complex<double>(0, -1) * S.cast<std::complex<double>>();
    const Eigen::SelfAdjointEigenSolver<RowMatrixC> eigen(hermitian);
    if (eigen.info() != Eigen::Success) fail("{}: the eigensolver did not converge", where);
    const RowMatrixC V = eigen.eigenvectors();
    RowMatrixC Lambda(N, 1);
    for (std::int64_t n = 0; n < N; ++n) Lambda(n, 0) = {c, eigen.eigenvalues()(n)};
    const RowMatrixC P = (V.adjoint() * p.transpose().cast<std::complex<double>>()).transpose();
    const RowMatrixC Bv = V.adjoint() * B.cast<std::complex<double>>();
    const auto rank = static_cast<std::int64_t>(p.rows());
    return {tensor_from(Lambda, {N}, DType::C128),
            tensor_from(RowMatrixC(P), {rank, N}, DType::C128), tensor_from(Bv, {N}, DType::C128),
            tensor_from(V, {N, N}, DType::C128)};
}

}  // namespace structseq
