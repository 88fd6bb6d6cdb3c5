#pragma once
// The convolution kernel of a discrete single-input single-output SSM
//   x_{k+1} = A x_k + B u_k,  y_k = C x_k + D u_k,  x_0 = 0   ⇒   y = K * u with
//   K_0 = D,  K_ℓ = C A^{ℓ−1} B  (ℓ = 1 … L−1).
// A (n, n), or (n,) for diag(A); B (n, 1) or (n,); C (1, n) or (n,); D (1, 1), (1,) or ().
// Returns K (L,): real for real inputs, complex when any input is complex (diagonal or DPLR
// forms of a real system give a real K up to rounding). Work W and critical path (depth) S:
//   recurrent  v_ℓ = A v_{ℓ−1}: W = O(L n²), S = O(L log n)
//   doubling   [X, A^{2^j} X] with A^{2^{j+1}} = (A^{2^j})²: W = O(n³ log L + L n²),
//              S = O(log L · log n)
//   diagonal   K_ℓ = Σ_i C_i B_i λ_i^{ℓ−1} (Vandermonde): W = O(L n), S = O(log n) given the
//              powers (here computed by blocks of running products)
//
// ssm_kernel_dplr: A = diag(Λ) − Pᵀ conj(Q) with P, Q (r, n) (or (n,) for r = 1), as S4.
// With M = 2^⌈log₂ L⌉ and C̃ = C (I − A^M), the generating function at the M-th roots of
// unity ω_k = e^{−2πik/M} is
//   k̂(ω) = Σ_{j<M} C A^j B ω^j = C̃ (I − ωA)⁻¹ B
//         = C̃ R B − ω (C̃ R Pᵀ) (I_r + ω conj(Q) R Pᵀ)⁻¹ (conj(Q) R B),  R = diag(1/(1 − ωΛ))
// (Woodbury; each term a Cauchy sum over n), and C A^j B = inverse FFT of k̂. W = O(L n r² +
// L log L) after C̃ (L steps of c ← cA, O(L n r)); S = O(log n + log L).

#include "structseq/core/tensor.h"

#include <string_view>

namespace structseq {

Tensor ssm_kernel(const Tensor& A, const Tensor& B, const Tensor& C, const Tensor& D,
                  std::int64_t L, std::string_view method = "recurrent");

Tensor ssm_kernel_dplr(const Tensor& Lambda, const Tensor& P, const Tensor& Q, const Tensor& B,
                       const Tensor& C, const Tensor& D, std::int64_t L);

}  // namespace structseq
