#pragma once
// Scaled dot-product attention (Vaswani et al. 2017), the baseline of the attention family:
//   out = softmax(q kᵀ / √d + mask) v
// q (batch, heads, n_q, d), k (batch, heads, n, d), v (batch, heads, n, d_v) → (batch, heads, n_q,
// d_v); float32 or float64. Causal: the queries are the last n_q positions of the n keys, so query
// t sees keys 0 … t + n − n_q (n_q = n for a sequence; n_q = 1 for one generated token).
//
// Blocks of 64 queries at a time: S = Q_b Kᵀ / √d (one GEMM), the row softmax, Q_b's output
// P V (one GEMM); memory 64 × n per thread instead of n_q × n. The forward keeps each row's
// log-sum-exp; the backward recomputes P from it (as FlashAttention does) and forms
//   dV = Pᵀ dO,  dP = dO Vᵀ,  dS = P ⊙ (dP − rowsum(dO ⊙ O)),  dQ = dS K / √d,  dK = dSᵀ Q / √d.

#include "structseq/core/tensor.h"

namespace structseq {

struct SoftmaxAttentionResult {
    Tensor out;        // (batch, heads, n_q, d_v)
    Tensor logsumexp;  // (batch, heads, n_q), float64: what the backward needs with out
};

SoftmaxAttentionResult softmax_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                         bool causal = true);

// The attention probabilities P = softmax(q kᵀ / √d + mask): (batch, heads, n_q, n), so that
// softmax_attention(q, k, v).out = P v; causal as above (zero where masked).
Tensor softmax_attention_weights(const Tensor& q, const Tensor& k, bool causal = true);

struct SoftmaxAttentionGrads {
    Tensor dq, dk, dv;
};

SoftmaxAttentionGrads softmax_attention_backward(const Tensor& dout, const Tensor& q,
                                                 const Tensor& k, const Tensor& v,
                                                 const SoftmaxAttentionResult& forward,
                                                 bool causal = true);

}  // namespace structseq
