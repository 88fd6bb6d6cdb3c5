#pragma once
// Best tridiagonal-plus-rank-r approximation of a dense square matrix:
//   min over T (tridiagonal), U, V (N × r) of ‖H - T - U Vᵀ‖_F
// by alternating the two exact partial minimizations from U Vᵀ = 0:
//   T ← tridiagonal band of (H - U Vᵀ);   U Vᵀ ← best rank-r approximation of (H - T)
// The first iteration is seed 000's one-shot factorization; each later one cannot increase the
// error, and a matrix that really is tridiagonal plus rank r is recovered to rounding.
// Iteration stops after max_iter, or when the relative error or its decrease per iteration
// falls to tol. Each iteration costs one rank-r SVD of an N × N matrix: O(N³) with
// method "svd" (LAPACK gesdd), O(N² r) with "rsvd" (batched_randomized_svd's kernel).
//
// rank defaults to ⌈log₂ N⌉ (at least 1). With target_error, the smallest rank whose relative
// error reaches the target is chosen, below the bound given by the one-shot errors of every
// rank (one SVD): ranks 1 … 16 one by one, then doubling and bisection, each with an
// alternating fit abandoned once it stalls above the target; `rank`, if given, caps the
// search, and a target it cannot reach is an Error. The factors are split
// evenly: U = U_r √Σ, V = V_r √Σ.

#include "structseq/linalg/semiseparable.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace structseq {

struct SemiseparableFitOptions {
    std::optional<std::int64_t> rank;
    std::optional<double> target_error;
    std::string method = "svd";  // "svd" or "rsvd"
    std::int64_t max_iter = 50;
    double tol = 1e-12;
    std::uint64_t seed = 0;  // for method "rsvd"
};

struct SemiseparableFitReport {
    std::int64_t rank = 0;
    std::int64_t iterations = 0;
    double relative_error = 0;
    std::vector<double> history;  // relative error after each iteration of the final fit
};

SemiseparableMatrix create_semiseparable_from_dense(const Tensor& H,
                                                    const SemiseparableFitOptions& options = {},
                                                    SemiseparableFitReport* report = nullptr);

}  // namespace structseq
