#pragma once
// Ridge shrinkage ("linear purification", seed 004 problem 3). For features X (m features,
// n samples) = U Σ Vᵀ, the ridge-regression projection onto the feature space is
//   W_c = X Xᵀ (X Xᵀ + λI)⁻¹ = U diag(σᵢ² / (σᵢ² + λ)) Uᵀ          (m × m)
// which keeps directions with σᵢ² ≫ λ and shrinks those with σᵢ² ≪ λ towards 0.
// Directions outside the range of X (and σ = 0 when λ = 0) get 0. O(m n min(m, n)).
//
// ridge_shrinkage_lambda_range: the λ for which the `keep` largest σ keep a factor of at least
// keep_at_least and all others shrink to at most drop_at_most:
//   σ²/(σ² + λ) ≥ κ  ⇔  λ ≤ σ² (1 - κ)/κ,     σ²/(σ² + λ) ≤ δ  ⇔  λ ≥ σ² (1 - δ)/δ,
// so λ ∈ [σ_{keep+1}² (1 - δ)/δ, σ_keep² (1 - κ)/κ] with σ sorted descending (an empty
// interval gives nullopt). For σ = [10, 8, 4, 1, 0.5, 0.36, 0.16, 0.01], keep = 3 it is [1, 4].

#include "structseq/core/tensor.h"

#include <optional>
#include <utility>
#include <vector>

namespace structseq {

Tensor ridge_shrinkage(const Tensor& X, double lam);

std::optional<std::pair<double, double>> ridge_shrinkage_lambda_range(
    const std::vector<double>& sigmas, std::int64_t keep, double keep_at_least = 0.8,
    double drop_at_most = 0.5);

}  // namespace structseq
