#pragma once
// Linear layer as a forward/backward pair over flat rows:
//   forward:  y = x Wᵀ + b          x: (M, in), W: (out, in), b: (out) or absent, y: (M, out)
//   backward: dx = dy W;  dW += dyᵀ x;  db += Σ_rows dy   (gradients accumulate)
// float32 or float64, all operands of one dtype; OpenBLAS GEMM.

#include "structseq/core/tensor.h"

namespace structseq {

Tensor linear_forward(const Tensor& x, const Tensor& W, const Tensor* b);

// An optional bias as these functions take it: &b, or null when b is undefined.
inline const Tensor* if_defined(const Tensor& b) {
    return b.defined() ? &b : nullptr;
}
inline Tensor* if_defined(Tensor& b) {
    return b.defined() ? &b : nullptr;
}

// Returns dx (M, in); adds into dW (out, in) and, when given, db (out).
Tensor linear_backward(const Tensor& dy, const Tensor& x, const Tensor& W, Tensor& dW, Tensor* db);

}  // namespace structseq
