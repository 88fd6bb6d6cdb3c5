#pragma once
// Discretization of a continuous-time state-space system x' = A x + B u over a step dt into
// x_{k+1} = Ā x_k + B̄ u_k.
//   zoh       Ā = exp(dt A),  B̄ = ∫₀^dt exp(s A) ds · B, read off exp(dt [[A, B], [0, 0]]) =
//             [[Ā, B̄], [0, I]] (Van Loan), so singular A needs no special case;
//   gbt(α)    Ā = (I − α dt A)⁻¹ (I + (1 − α) dt A),  B̄ = (I − α dt A)⁻¹ dt B
//             (α = 0 forward Euler, ½ bilinear/Tustin, 1 backward Euler);
//   bilinear  gbt with α = ½.
// A (n, n) dense, or (n,) meaning diag(A) (real or complex): then Ā (n,) = exp(dt a) and
// B̄ = φ(dt a) dt B with φ(x) = (eˣ − 1)/x (φ(0) = 1, evaluated without cancellation). B is
// (n,) or (n, m); Ā and B̄ keep the shapes of A and B. Matches scipy.signal.cont2discrete.

#include "structseq/core/tensor.h"

#include <string_view>

namespace structseq {

struct DiscreteSystem {
    Tensor A;
    Tensor B;
};

DiscreteSystem discretize(const Tensor& A, const Tensor& B, double dt,
                          std::string_view method = "zoh", double alpha = 0.5);

}  // namespace structseq
