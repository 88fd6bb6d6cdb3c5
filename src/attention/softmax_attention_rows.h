#pragma once
// The row kernel of softmax_attention on one head's raw buffers, for the KV caches that keep
// their keys and values in buffers of their own: query rows [q0, q0 + rows) of Q (rows × d),
// keys K (n × d), values V (n × d_v) → out (rows × d_v) and each row's log-sum-exp (may be null).
// Causal as in softmax_attention.h; `scratch` holds rows × n scores.

#include "attention_inputs.h"

#include <cstdint>
#include <vector>

namespace structseq {

template <class Real>
void softmax_attention_rows(const attention_detail::AttentionDims& s, bool causal, std::int64_t q0,
                            std::int64_t rows, const Real* Q, const Real* K, const Real* V,
                            Real* out, double* lse, std::vector<Real>& scratch);

}  // namespace structseq
