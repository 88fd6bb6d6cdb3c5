#pragma once
// The causal ridge recursion of one head, token by token, in the input precision (the inner loop
// of ridge_attention's Sherman–Morrison method; ridge_attention.cpp refreshes the state from its
// float64 sums between calls). With P = M⁻¹ (d × d, symmetric) and W = P b (d × d_v), a token
// (q, k, v) does
//   p = P k,   g = p / (1 + kᵀp),   e = v − Wᵀk,
//   P ← P − g pᵀ,   W ← W + g eᵀ,   out = Wᵀq = (Wᵀq before the update) + (gᵀq) e,
// O(d² + d d_v) per token. The updates of a token and the products P k, Wᵀk, Wᵀq of the next one
// share one pass over P and one over W, so each row is read and written once per token. Private to
// the library.

#include <cstdint>

namespace structseq::attention_detail {

// The state: P (d × ldp) and W (d × ldw), row-major; ldp ≥ d and ldw ≥ d_v are whole 64-byte
// vectors (padded_width), the columns past d and d_v zero. q, k (count × d) and
// v (count × d_v) rows in, out (count × d_v).
template <class Real>
struct ShermanMorrisonState {
    std::int64_t d = 0, dv = 0, ldp = 0, ldw = 0;
    Real* P = nullptr;
    Real* W = nullptr;
};

// n rounded up to whole 64-byte vectors of the element size.
std::int64_t padded_width(std::int64_t n, std::int64_t element_bytes);

// The widest d (and d_v) the kernel takes: 16 vectors per row.
std::int64_t sherman_morrison_max_width(std::int64_t element_bytes);

void sherman_morrison_steps(const ShermanMorrisonState<float>& s, const float* q, const float* k,
                            const float* v, std::int64_t count, float* out);
void sherman_morrison_steps(const ShermanMorrisonState<double>& s, const double* q, const double* k,
                            const double* v, std::int64_t count, double* out);

}  // namespace structseq::attention_detail
