#pragma once
// Linear layer as a forward/backward pair over flat rows:
//   forward:  y = x Wᵀ + b          x: (M, in), W: (out, in), b: (out) or absent, y: (M, out)
//   backward: dx = dy W;  dW += dyᵀ x;  db += Σ_rows dy   (gradients accumulate)
// float32 or float64, all operands of one dtype; OpenBLAS GEMM.

#include "structseq/core/tensor.h"

namespace structseq {

Tensor linear_forward(const Tensor& x, const Tensor& W, const Tensor* b);

// Returns dx (M, in); adds into dW (out, in) and, when given, db (out).
Tensor linear_backward(const Tensor& dy, const Tensor& x, const Tensor& W, Tensor& dW, Tensor* db);

}  // namespace structseq
