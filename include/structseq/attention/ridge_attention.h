#pragma once
// Ridge attention (seed 004, problem 4): each query reads the values through the ridge regression
// of the values on the keys,
//   out_t = q_tᵀ (K_tᵀ K_t + λ I)⁻¹ K_tᵀ V_t,
// with K_t, V_t every key/value row (non-causal) or the rows up to t (causal). Shapes:
// q (batch, heads, n_q, d), k (batch, heads, n, d), v (batch, heads, n, d_v) → (batch, heads,
// n_q, d_v); causal needs n_q = n. λ > 0, one per head. float32 or float64.
//
// Non-causal: M = KᵀK + λI and X = M⁻¹ KᵀV once per head (Cholesky), out = Q X: O(n d² + d³).
//
// Causal, M_t = λI + Σ_{i≤t} k_i k_iᵀ and b_t = Σ_{i≤t} k_i v_iᵀ:
//  - `SequentialShermanMorrison`: M_t⁻¹ = M_{t−1}⁻¹ − u uᵀ/(1 + k_tᵀu), u = M_{t−1}⁻¹ k_t;
//    O(d² + d d_v) per token, the form generation uses (RidgeAttentionState below). Over a
//    sequence it runs in the input precision on P = M⁻¹ and W = P b (out_t = W_tᵀ q_t), one
//    pass over each per two tokens (src/attention/sherman_morrison_steps.h), restarted from
//    the float64 sums every `refactor_every` tokens; at d = 64 on one core it is faster than
//    the chunked form (docs/benchmarks.md);
//  - `Chunked` (default): chunks of C tokens with P = M₀⁻¹ and X₀ = P b₀ at the chunk start.
//    With G = I + K_c P K_cᵀ = L Lᵀ (Cholesky, C × C) and Z = L⁻¹ K_c P, the Sherman–Morrison
//    updates inside the chunk are the rows of Z: M_t⁻¹ = P − Σ_{i≤t} z_i z_iᵀ, so
//      out_c = Q_c X₀ − tril(Q_c Zᵀ) L⁻¹ (K_c X₀ − V_c)
//    in matrix products: O(n (d² + C d + C²)) in all, at GEMM speed.
// Stability: M and b are float64 sums (each chunk's own sum formed in the input precision, then
// added), and P = M⁻¹ is kept in float64: the chunked form downdates it by the chunk's ZᵀZ and
// factors M afresh every `refactor_every` tokens; the sequential form restarts from that fresh
// factorization at the same interval. Rounding therefore does not accumulate along the sequence:
// a plain float32 Sherman–Morrison recursion drifts, this does not
// (tests/cpp/attention/test_ridge_attention.cpp checks n = 65536 against a float64 per-prefix
// solve).
//
// Backward (exact, both modes): with w_t = M_t⁻¹ q_t and g_t = M_t⁻¹ b_t dout_t,
//   dq_t = g_t,  dλ = −Σ_t w_t·g_t,
//   dv_i = Σ_{t≥i} (w_t·k_i) dout_t,
//   dk_i = Σ_{t≥i} [w_t (dout_t·v_i − g_t·k_i) − g_t (w_t·k_i)]
// (sums over every t when non-causal), evaluated chunk by chunk in reverse with the within-chunk
// terms as masked C × C products and the later chunks' as running d × d sums.

#include "structseq/core/tensor.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace structseq {

enum class RidgeMethod { Chunked, SequentialShermanMorrison };

struct RidgeAttentionOptions {
    bool causal = true;
    RidgeMethod method = RidgeMethod::Chunked;  // causal only
    std::int64_t chunk_size = 64;               // C of the chunked form
    std::int64_t refactor_every = 256;          // tokens between fresh factorizations of M
};

// lam: one λ per head, or a single λ for every head.
Tensor ridge_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                       const std::vector<double>& lam, const RidgeAttentionOptions& options = {});

struct RidgeAttentionGrads {
    Tensor dq, dk, dv;
    std::vector<double> dlam;  // one per head (summed over the batch), or one when λ was shared
};

RidgeAttentionGrads ridge_attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k,
                                             const Tensor& v, const std::vector<double>& lam,
                                             const RidgeAttentionOptions& options = {});

// α = Q (KᵀK + λI)⁻¹ Kᵀ (batch, heads, n_q, n): out = α V. Causal: α_{t,i} = q_tᵀ M_t⁻¹ k_i for
// i ≤ t and 0 above the diagonal.
Tensor ridge_attention_weights(const Tensor& q, const Tensor& k, const std::vector<double>& lam,
                               bool causal = false, std::int64_t chunk_size = 64);

// The causal recurrence of one sequence for generation: per head M, M⁻¹ and b in float64,
// O(d² + d d_v) per token. q, k (heads, d), v (heads, d_v), float32 or float64 → out (heads, d_v).
class RidgeAttentionState {
public:
    RidgeAttentionState(std::int64_t heads, std::int64_t d, std::int64_t d_v,
                        const std::vector<double>& lam, std::int64_t refactor_every = 256);
    RidgeAttentionState(const RidgeAttentionState& other);
    RidgeAttentionState& operator=(const RidgeAttentionState& other);
    RidgeAttentionState(RidgeAttentionState&&) noexcept;
    RidgeAttentionState& operator=(RidgeAttentionState&&) noexcept;
    ~RidgeAttentionState();

    Tensor step(const Tensor& q, const Tensor& k, const Tensor& v);
    std::int64_t tokens() const { return tokens_; }

private:
    struct Heads;
    std::unique_ptr<Heads> heads_;
    std::int64_t d_, d_v_;
    std::int64_t tokens_ = 0;
};

}  // namespace structseq
