#pragma once
// HiPPO state matrices (Gu et al. 2020; S4, Gu et al. 2022), continuous time, x' = A x + B u:
//   legs  A_nk = −√(2n+1) √(2k+1) for n > k, −(n+1) for n = k, 0 above;  B_n = √(2n+1)
//   legt  A_nk = −½ √(2n+1) √(2k+1) · (1 if n ≥ k else (−1)^(n−k));      B_n = ½ √(2n+1)
//   fout  A = π (−diag(d, 1) + diag(d, −1)) − B Bᵀ with d = (0, 1, 0, 2, 0, 3, …)[1:],
//         B = (1, 0, √2, 0, √2, 0, …) (N even)
// A is (N, N), B is (N, 1), float64.
//
// hippo_nplr: the normal-plus-low-rank form. A + Σ_r p_r p_rᵀ is normal (= c I + S, S real
// skew-symmetric) for the rank correction p (rank 1 for legs: p_n = √(n + ½); rank 2 for
// legt: √(2n+1)/√2 on the even and on the odd indices; rank 1 for fout: p = B), so
// A + p pᵀ = V diag(Λ) Vᴴ with V unitary (eigenvectors of the Hermitian −i S) and Λ = c + i w.
// Returns Λ (N,), P = (Vᴴ p)ᵀ (rank, N), B = Vᴴ B (N,) and V (N, N), all complex128, with
//   A = V (diag(Λ) − Pᵀ conj(P)) Vᴴ.
// V holds all N eigenvectors (S4 keeps one of each conjugate pair instead).

#include "structseq/core/tensor.h"

#include <string_view>

namespace structseq {

struct HippoMatrices {
    Tensor A;  // (N, N)
    Tensor B;  // (N, 1)
};

struct HippoNplr {
    Tensor Lambda;  // (N,)
    Tensor P;       // (rank, N)
    Tensor B;       // (N,)
    Tensor V;       // (N, N)
};

HippoMatrices hippo(std::string_view measure, std::int64_t N);
HippoNplr hippo_nplr(std::string_view measure, std::int64_t N);

}  // namespace structseq
