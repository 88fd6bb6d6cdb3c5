#pragma once
// Dense references for the linalg tests: plain Eigen matrices built from the structured
// operands, inverted and solved with Eigen's LU.

#include "structseq/core/rng.h"
#include "structseq/core/tensor.h"

#include <Eigen/Dense>

#include <complex>
#include <cstdint>

namespace structseq::testing {

using DenseMatrix = Eigen::MatrixXd;
using DenseComplexMatrix = Eigen::MatrixXcd;

inline Tensor random_tensor(Shape shape, std::uint64_t seed, DType dtype = DType::F64) {
    Tensor t(std::move(shape), DType::F64);
    Rng(seed).normal(t);
    return t.to(dtype);
}

// T from row `row` of a (.., N), b and c (.., N-1); operands without batch dims are shared.
inline DenseMatrix dense_tridiagonal(const Tensor& a, const Tensor& b, const Tensor& c,
                                     std::int64_t row = 0) {
    const Tensor a64 = a.to(DType::F64), b64 = b.to(DType::F64), c64 = c.to(DType::F64);
    const std::int64_t n = a.dim(-1);
    const double* pa = a64.data<double>() + (a.rank() > 1 ? row * n : 0);
    const double* pb = b64.data<double>() + (b.rank() > 1 ? row * (n - 1) : 0);
    const double* pc = c64.data<double>() + (c.rank() > 1 ? row * (n - 1) : 0);
    DenseMatrix T = DenseMatrix::Zero(n, n);
    for (std::int64_t i = 0; i < n; ++i) T(i, i) = pa[i];
    for (std::int64_t i = 0; i + 1 < n; ++i) {
        T(i, i + 1) = pb[i];
        T(i + 1, i) = pc[i];
    }
    return T;
}

inline DenseComplexMatrix shifted_inverse(const DenseMatrix& T, std::complex<double> z) {
    const DenseComplexMatrix shifted =
        T.cast<std::complex<double>>() - z * DenseComplexMatrix::Identity(T.rows(), T.cols());
    return shifted.partialPivLu().inverse();
}

// A (rows, cols) row-major float64 tensor as an Eigen matrix.
inline DenseMatrix dense_of(const Tensor& t) {
    const Tensor t64 = t.to(DType::F64).contiguous();
    const std::int64_t rows = t.dim(0), cols = t.rank() > 1 ? t.dim(1) : 1;
    DenseMatrix m(rows, cols);
    for (std::int64_t i = 0; i < rows; ++i) {
        for (std::int64_t j = 0; j < cols; ++j) m(i, j) = t64.data<double>()[i * cols + j];
    }
    return m;
}

// max |x - y| / max |y| over complex entries.
inline double relative_max_error(const std::complex<double>* x, const std::complex<double>* y,
                                 std::int64_t count) {
    double err = 0, scale = 0;
    for (std::int64_t i = 0; i < count; ++i) {
        err = std::max(err, std::abs(x[i] - y[i]));
        scale = std::max(scale, std::abs(y[i]));
    }
    return scale > 0 ? err / scale : err;
}

}  // namespace structseq::testing
