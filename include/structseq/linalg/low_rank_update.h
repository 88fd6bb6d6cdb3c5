#pragma once
// Inverses after a low-rank update, from a known inverse (seed 004, problem 4e):
//
//   sherman_morrison_update(M⁻¹, u, v) = (M + u vᵀ)⁻¹
//       = M⁻¹ - (M⁻¹ u)(vᵀ M⁻¹) / (1 + vᵀ M⁻¹ u)                       O(n²)
//   woodbury_inverse(A⁻¹, U, C, V) = (A + U C V)⁻¹,  U: (n, k), C: (k, k), V: (k, n)
//       = A⁻¹ - A⁻¹ U C (I_k + V A⁻¹ U C)⁻¹ V A⁻¹                       O(n² k + k³)
//
// The Woodbury form used never inverts C, so a singular C (a rank-deficient update) is fine.
// A singular updated matrix (1 + vᵀ M⁻¹ u ≈ 0, or I + V A⁻¹ U C singular) is an Error.
// float32 or float64, all arguments of one dtype.

#include "structseq/core/tensor.h"

namespace structseq {

Tensor sherman_morrison_update(const Tensor& Minv, const Tensor& u, const Tensor& v);
Tensor woodbury_inverse(const Tensor& Ainv, const Tensor& U, const Tensor& C, const Tensor& V);

}  // namespace structseq
