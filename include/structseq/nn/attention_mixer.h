#pragma once
// The attention mixers of the language model (`mixer: attention` and `mixer: ridge`) as a
// forward/backward pair over time-major rows h (batch·L, d_model), H heads of head_dim d_h =
// d_model / H:
//   [q, k, v] = h W_qkvᵀ                     (M, 3 d_model) → three (batch, H, L, d_h)
//   q, k ← rotary(q, k)                      (nn/rotary_embedding.h) unless positions are learned
//   o = softmax_attention(q, k, v)           `attention`: causal, scale 1/√d_h
//     | ridge_attention(q, k, v, λ)          `ridge`: causal, λ_h = exp(log_lambda_h) > 0, learned
//   out = o W_outᵀ                           o regrouped as (M, d_model)
// Backward: the kernels' exact backward (attention/softmax_attention.h, ridge_attention.h),
// rotary's inverse rotation, the projections' products; dlog_lambda = dλ · λ.
// Generation (`attention_mixer_step`) keeps per sequence a KV cache (softmax; exact or spectral,
// attention/kv_cache.h) or the ridge recurrence (RidgeAttentionState): O(d_h²) per token and head.

#include "structseq/attention/kv_cache.h"
#include "structseq/attention/ridge_attention.h"
#include "structseq/attention/softmax_attention.h"
#include "structseq/core/tensor.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace structseq {

struct AttentionMixerWeights {
    Tensor qkv;         // (3 d_model, d_model): W_q, W_k, W_v stacked
    Tensor out_proj;    // (d_model, d_model)
    Tensor log_lambda;  // (heads): ridge only

    bool defined() const { return qkv.defined(); }
    bool is_ridge() const { return log_lambda.defined(); }
    AttentionMixerWeights zeros_like() const;
};

struct AttentionMixerOptions {
    std::int64_t heads = 1;
    bool rotary = true;
};

struct AttentionMixerSaved {
    std::int64_t batch = 0, length = 0;
    Tensor h, q, k, v, o;  // input (M, d_model); q, k, v (batch, H, L, d_h); o (M, d_model)
    SoftmaxAttentionResult softmax;  // `attention` layers
};

Tensor attention_mixer_forward(const AttentionMixerWeights& w, const AttentionMixerOptions& options,
                               const Tensor& h, std::int64_t batch, std::int64_t length,
                               AttentionMixerSaved* saved = nullptr);

// Returns dh; adds the weights' gradients into `grads` (shaped by zeros_like()).
Tensor attention_mixer_backward(const AttentionMixerWeights& w,
                                const AttentionMixerOptions& options,
                                const AttentionMixerSaved& saved, const Tensor& dout,
                                AttentionMixerWeights& grads);

// The attention weights α of one sequence h (L, d_model): (heads, L, L) with out = α V per head.
// Softmax: the causal attention probabilities; ridge: α_{t,i} = q_tᵀ M_t⁻¹ k_i for i ≤ t (signed;
// attention/ridge_attention.h), zero above the diagonal.
Tensor attention_mixer_weights(const AttentionMixerWeights& w, const AttentionMixerOptions& options,
                               const Tensor& h);

// One sequence's generation state in one layer.
struct AttentionMixerCache {
    std::unique_ptr<KvCache> kv;                 // `attention`
    std::unique_ptr<RidgeAttentionState> ridge;  // `ridge`
};

// A fresh cache for one sequence (`kv_options` picks exact or spectral for softmax layers).
AttentionMixerCache attention_mixer_cache(const AttentionMixerWeights& w,
                                          const AttentionMixerOptions& options,
                                          std::int64_t d_model, const KvCacheOptions& kv_options);

// One token per sequence: h (batch, d_model) float32 at `position` → (batch, d_model); caches has
// one entry per sequence, advanced in place.
Tensor attention_mixer_step(const AttentionMixerWeights& w, const AttentionMixerOptions& options,
                            const Tensor& h, std::int64_t position,
                            std::vector<AttentionMixerCache>& caches);

}  // namespace structseq
