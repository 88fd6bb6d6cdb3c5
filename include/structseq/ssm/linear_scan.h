#pragma once
// The first-order linear recurrence h_t = a_t ⊙ h_{t−1} + b_t over t = 0 … L−1 (h_{−1} = h0,
// or 0), elementwise in D: a, b (B, L, D), h0 (B, D), h (B, L, D), float32 or float64,
// computed in the input precision.
//   sequential  one pass, vectorized over D;                           W = O(L D), S = O(L)
//   parallel    T chunks of time (T = threads): (1) every chunk scans from 0, keeping its
//               running product of a at T sub-block starts; (2) the carries into the chunks,
//               carry_{c+1} = h_end,c + (Π_c a) ⊙ carry_c, in order; (3) every sub-block of
//               chunks 1 … T−1 adds (Π a up to t) ⊙ carry — the (∏a, h) pairs compose
//               associatively, (a₂, b₂)∘(a₁, b₁) = (a₂a₁, a₂b₁ + b₂), as in Blelloch's scan.
//               W ≈ (2 − 1/T) L D, S = O(L/T + T). On T = 2 threads at most 4/3× sequential.
//
// Backward, with g = ∂ℓ/∂h accumulated through the recurrence:
//   g_t = dh_t + a_{t+1} ⊙ g_{t+1} (a reverse scan),  da_t = g_t ⊙ h_{t−1},  db_t = g_t,
//   dh0 = a_0 ⊙ g_0.

#include "structseq/core/tensor.h"

#include <string_view>

namespace structseq {

Tensor linear_scan(const Tensor& a, const Tensor& b, const Tensor& h0 = Tensor(),
                   std::string_view method = "sequential");

struct LinearScanGradients {
    Tensor da;
    Tensor db;
    Tensor dh0;  // undefined when h0 was not given
};

LinearScanGradients linear_scan_backward(const Tensor& dh, const Tensor& a, const Tensor& b,
                                         const Tensor& h0 = Tensor(),
                                         std::string_view method = "sequential");

}  // namespace structseq
