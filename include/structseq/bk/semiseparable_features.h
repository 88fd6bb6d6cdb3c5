#pragma once
// BK-Core's semiseparable mode: H = T + U·Vᵀ with T = H₀ + diag(v) per row and U, V (N × r)
// shared by the rows (the layer's parameters). Features f_i = G_ii, G = (H - zI)⁻¹, by
// Woodbury (linalg/semiseparable.h):
//   W = T_z⁻¹ U,  Ŷ = T_z⁻ᵀ V,  C = I_r + Vᵀ W,  M = C⁻¹ Ŷᵀ (r × N),  G = T_z⁻¹ - W M,
//   f_i = [T_z⁻¹]_ii - Σ_p W_ip M_pi.                                       O(N r²) per row
// Backward, with Γ̄ = diag(conj γ) and P = G Γ̄ G (never formed):
//   ∂L/∂v_j = -Re P_jj,  ∂L/∂Re z + i ∂L/∂Im z = conj(tr P),
//   ∂L/∂U = -Re(Pᵀ V),  ∂L/∂V = -Re(P U),
//   diag P = diag(T⁻¹Γ̄T⁻¹) - diag(T⁻¹Γ̄WM) - diag(WMΓ̄T⁻¹) + diag(W (MΓ̄W) M),
// each term O(N r²): the first by resolvent_sandwich_diagonal, the others through r solves
// with T_z or T_zᵀ; P U = G Γ̄ (W (I - M U)) and Pᵀ V = Gᵀ Γ̄ (Ŷ - Mᵀ WᵀV) by r applications of
// G = T⁻¹ - W M (or Gᵀ = T⁻ᵀ - Mᵀ Wᵀ). O(N r²) per row in all.

#include "structseq/linalg/tridiagonal.h"

#include <complex>
#include <cstdint>

namespace structseq {

// f: (batch, N). U, V: (N, rank) row-major, real. A singular T_z or capacitance is an Error.
template <class Real>
void bk_semiseparable_forward(const TridiagonalRows<Real>& rows, const Real* U, const Real* V,
                              std::int64_t rank, std::complex<Real> z, std::complex<Real>* f);

// grad_features: (batch, N, 2). Writes grad_v (batch, N); adds into grad_U, grad_V (N, rank)
// and *grad_z.
template <class Real>
void bk_semiseparable_backward(const TridiagonalRows<Real>& rows, const Real* U, const Real* V,
                               std::int64_t rank, std::complex<Real> z, const Real* grad_features,
                               Real* grad_v, Real* grad_U, Real* grad_V,
                               std::complex<double>* grad_z);

}  // namespace structseq
