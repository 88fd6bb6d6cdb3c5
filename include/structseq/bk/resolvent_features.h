#pragma once
// The Birman–Schwinger resolvent features and their exact gradients, row by row (seed 001).
// A row is a potential v (N) on top of a tridiagonal H₀ (main a, super b, sub c): the
// tridiagonal T = H₀ + diag(v), α_i = a_i + v_i - z.
//
// Bidirectional: f_i = G_ii = [(T - zI)⁻¹]_ii (pivot form, tridiagonal.h).
// Causal:        f_i = 1 / d_i, the last diagonal entry of the resolvent of the leading i × i
//                block (d_i the forward pivots): f_i depends on v_1 … v_i only.
//
// Backward. For features read as (Re f_i, Im f_i) with upstream gradients (g_i^re, g_i^im),
// put γ_i = g_i^re + i g_i^im, so that dL = Re Σ_i conj(γ_i) df_i. With the holomorphic adjoint
// A_j = ∂L/∂α_j (dL = Re Σ_j A_j dα_j):
//   ∂L/∂v_j = Re A_j,     ∂L/∂Re z + i ∂L/∂Im z = -conj(Σ_j A_j).
// Bidirectional: ∂G_ii/∂α_j = -G_ij G_ji, so A_j = -(G Γ̄ G)_jj with Γ̄ = diag(conj γ). That
// diagonal is the derivative of diag((T - zI - εΓ̄)⁻¹) at ε = 0: forward-mode differentiation
// of the two pivot recursions, O(N), without forming G:
//   δα_i = -conj γ_i,  δd_i = δα_i + (b_{i-1}c_{i-1}/d_{i-1}²) δd_{i-1},
//   δe_i = δα_i + (b_i c_i/e_{i+1}²) δe_{i+1},  δG_ii = -G_ii² (δd_i + δe_i - δα_i),
//   A_j = -δG_jj.
// Causal: reverse mode through d_i = α_i - b_{i-1}c_{i-1}/d_{i-1}:
//   λ_i = -conj(γ_i)/d_i² + λ_{i+1} b_i c_i / d_i²,  A_i = λ_i.

#include "structseq/linalg/tridiagonal.h"

#include <complex>
#include <cstdint>
#include <vector>

namespace structseq {

enum class BkMode { Bidirectional, Causal };

// out_i = [(T - zI)⁻¹ diag(w) (T - zI)⁻¹]_ii for one row of N, in O(N) by the forward-mode
// derivative above (δα = -w); g = diag((T - zI)⁻¹). scratch: 2N values, reused.
template <class Real>
void resolvent_sandwich_diagonal(const Real* a, const Real* b, const Real* c, std::int64_t n,
                                 std::complex<Real> z, const std::complex<Real>* g,
                                 const std::complex<Real>* w, std::complex<Real>* out,
                                 std::vector<std::complex<Real>>& scratch);

// f: (batch, N) complex. Returns the pivot statistics; a vanishing pivot is an Error.
// main_shift (N values, or null) is added to every row's main diagonal on the fly.
template <class Real>
PivotStats bk_features_forward(const TridiagonalRows<Real>& rows, std::complex<Real> z, BkMode mode,
                               std::complex<Real>* f, const Real* main_shift = nullptr);

// grad_features: (batch, N, 2) real; f: the forward's output (batch, N). Writes grad_alpha:
// (batch, N) real (= ∂L/∂v), and adds -conj(Σ A) of every row into *grad_z.
template <class Real>
void bk_features_backward(const TridiagonalRows<Real>& rows, std::complex<Real> z, BkMode mode,
                          const std::complex<Real>* f, const Real* grad_features, Real* grad_v,
                          std::complex<double>* grad_z);

}  // namespace structseq
