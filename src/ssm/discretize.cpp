#include "structseq/ssm/discretize.h"

#include "ssm/eigen_tensor.h"
#include "structseq/core/error.h"

#include <unsupported/Eigen/MatrixFunctions>

#include <cmath>
#include <complex>

namespace structseq {

namespace {

using namespace ssm_detail;
using C = std::complex<double>;
constexpr std::string_view kWhere = "discretize";

// φ(x) = (eˣ − 1)/x with eˣ − 1 = expm1(a) cos b − 2 sin²(b/2) + i eᵃ sin b for x = a + ib,
// which keeps full relative accuracy near 0.
C phi(C x) {
    if (x == C(0)) return C(1);
    const double a = x.real(), b = x.imag();
    const double s = std::sin(b / 2);
    const C em1(std::expm1(a) * std::cos(b) - 2 * s * s, std::exp(a) * std::sin(b));
    return em1 / x;
}

template <class Matrix>
Matrix dense_gbt_solve(const Matrix& A, const Matrix& rhs, double dt, double alpha) {
    const Eigen::Index n = A.rows();
    const Matrix M = Matrix::Identity(n, n) - alpha * dt * A;
    const Eigen::PartialPivLU<Matrix> lu(M);
    if (!(lu.rcond() > 1e-14)) {
        fail(
            "{}: I - alpha*dt*A is singular (reciprocal condition {:.3g}) for alpha = {}, "
            "dt = {}; take a smaller dt or another method",
            kWhere, lu.rcond(), alpha, dt);
    }
    return lu.solve(rhs);
}

template <class Matrix>
DiscreteSystem dense(const Matrix& A, const Matrix& B, double dt, bool zoh, double alpha,
                     const Shape& b_shape, DType dtype) {
    const Eigen::Index n = A.rows(), m = B.cols();
    Matrix Ad, Bd;
    if (zoh) {
        Matrix block = Matrix::Zero(n + m, n + m);
        block.topLeftCorner(n, n) = dt * A;
        block.topRightCorner(n, m) = dt * B;
        const Matrix e = block.exp();
        Ad = e.topLeftCorner(n, n);
        Bd = e.topRightCorner(n, m);
    } else {
        const Matrix I = Matrix::Identity(n, n);
        Ad = dense_gbt_solve<Matrix>(A, I + (1 - alpha) * dt * A, dt, alpha);
        Bd = dense_gbt_solve<Matrix>(A, dt * B, dt, alpha);
    }
    return {tensor_from(Ad, {n, n}, dtype), tensor_from(Bd, b_shape, dtype)};
}

}  // namespace

DiscreteSystem discretize(const Tensor& A, const Tensor& B, double dt, std::string_view method,
                          double alpha) {
    check_argument(std::isfinite(dt) && dt > 0, kWhere, "dt", fmt::format("{}", dt),
                   "a finite step > 0");
    const bool zoh = method == "zoh";
    if (method == "bilinear") {
        alpha = 0.5;
    } else if (method != "zoh" && method != "gbt") {
        fail_argument(kWhere, "method", std::string(method), "\"zoh\", \"bilinear\" or \"gbt\"");
    }
    check_argument(zoh || (alpha >= 0 && alpha <= 1), kWhere, "alpha", fmt::format("{}", alpha),
                   "a number in [0, 1]");
    check_numeric(A, kWhere, "A");
    check_numeric(B, kWhere, "B");
    check_argument(A.rank() == 1 || (A.rank() == 2 && A.dim(0) == A.dim(1)), kWhere, "A",
                   "shape " + shape_string(A.shape()), "(n, n), or (n,) for a diagonal A");
    const std::int64_t n = A.dim(0);
    check_argument((B.rank() == 1 || B.rank() == 2) && B.dim(0) == n, kWhere, "B",
                   "shape " + shape_string(B.shape()), fmt::format("({},) or ({}, m)", n, n));
    const bool complex = is_complex(A.dtype()) || is_complex(B.dtype());
    const DType dtype = result_dtype({&A, &B}, complex);
    if (A.rank() == 2) {
        if (complex) {
            return dense<RowMatrixC>(complex_matrix(A, kWhere, "A"), complex_matrix(B, kWhere, "B"),
                                     dt, zoh, alpha, B.shape(), dtype);
        }
        return dense<RowMatrix>(real_matrix(A, kWhere, "A"), real_matrix(B, kWhere, "B"), dt, zoh,
                                alpha, B.shape(), dtype);
    }
    // Diagonal A: elementwise, in complex arithmetic (the imaginary parts vanish for real input).
    const RowMatrixC a = complex_matrix(A, kWhere, "A");
    RowMatrixC Bd = complex_matrix(B.rank() == 1 ? B.reshape({n, 1}) : B, kWhere, "B");
    RowMatrixC Ad(n, 1);
    for (std::int64_t i = 0; i < n; ++i) {
        const C x = dt * a(i, 0);
        C scale;
        if (zoh) {
            Ad(i, 0) = std::exp(x);
            scale = phi(x) * dt;
        } else {
            const C denominator = 1.0 - alpha * x;
            if (std::abs(denominator) < 1e-14) {
                fail("{}: 1 - alpha*dt*A[{}] is 0 for alpha = {}, dt = {}, A[{}] = {}", kWhere, i,
                     alpha, dt, i, complex_string(a(i, 0)));
            }
            Ad(i, 0) = (1.0 + (1 - alpha) * x) / denominator;
            scale = dt / denominator;
        }
        Bd.row(i) *= scale;
    }
    if (complex) return {tensor_from(Ad, {n}, dtype), tensor_from(Bd, B.shape(), dtype)};
    return {tensor_from(RowMatrix(Ad.real()), {n}, dtype),
            tensor_from(RowMatrix(Bd.real()), B.shape(), dtype)};
}

}  // namespace structseq
