#pragma once
// RMSNorm over the last dimension of flat rows (Zhang & Sennrich 2019), as in Mamba:
//   forward:  y = x · r · w,  r = (mean(x²) + eps)^(-1/2)     x: (M, D), w: (D), y: (M, D)
//   backward: dx = r · (dy ⊙ w) − x · r³ · mean(dy ⊙ w ⊙ x);  dw += Σ_rows dy ⊙ x · r
// float32 or float64 (x and w of one dtype); statistics accumulate in float64.

#include "structseq/core/tensor.h"

namespace structseq {

Tensor rms_norm_forward(const Tensor& x, const Tensor& weight, double eps = 1e-5);

// Returns dx (M, D); adds into dweight (D).
Tensor rms_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight, Tensor& dweight,
                         double eps = 1e-5);

}  // namespace structseq
