#pragma once
// Conversions between Tensors and Eigen matrices for the small dense problems of the ssm area
// (discretization, HiPPO, kernels): everything is computed in float64 / complex128 and the
// result converted back to the precision of the inputs.

#include "structseq/core/tensor.h"

#include <Eigen/Dense>

#include <complex>
#include <string_view>

namespace structseq::ssm_detail {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMatrixC =
    Eigen::Matrix<std::complex<double>, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// A rank-0, 1 or 2 tensor as a matrix: () → 1 × 1, (n,) → n × 1 (a column), (m, n) → m × n.
RowMatrix real_matrix(const Tensor& t, std::string_view where, std::string_view argument);
RowMatrixC complex_matrix(const Tensor& t, std::string_view where, std::string_view argument);

// A matrix as a tensor of `shape` (same number of elements) in `dtype`.
Tensor tensor_from(const RowMatrix& m, const Shape& shape, DType dtype);
Tensor tensor_from(const RowMatrixC& m, const Shape& shape, DType dtype);

// The result precision of a computation on these inputs: float32/complex64 when every defined
// input is single precision, else float64/complex128; complex when `complex`.
DType result_dtype(std::initializer_list<const Tensor*> inputs, bool complex);

// Error unless t is defined with a real or complex floating dtype and finite values.
void check_numeric(const Tensor& t, std::string_view where, std::string_view argument);

}  // namespace structseq::ssm_detail
