#pragma once
// Autoregressive generation on a model's recurrent state: the prompt runs through
// MambaModel::step once (O(1) per token), then each new token is drawn by sample_next_token
// from the logits of the last one, over ids [0, vocab) only (a model's vocabulary may be padded
// past its tokenizer's), with the repetition penalty over the last 64 tokens and one uniform
// draw per token from Rng(seed) — a seed fixes the output.

#include "structseq/model/mamba_model.h"
#include "structseq/model/sampling.h"

#include <cstdint>
#include <functional>
#include <span>
#include <utility>
#include <vector>

namespace structseq {

struct GenerationOptions {
    std::int64_t max_new_tokens = 200;
    SamplingOptions sampling;
    std::uint64_t seed = 0;
    std::int64_t vocab = 0;         // draw ids below this; 0: the model's vocab_size
    std::int64_t record_top_k = 0;  // > 0: keep the k largest logits at every position
    KvCacheOptions kv_cache;        // of softmax-attention layers: exact or spectral
    std::function<void(std::int64_t id)> on_token;  // called with each new token as it comes
};

struct GeneratedTokens {
    std::vector<std::int64_t> tokens;  // the new tokens
    // With record_top_k: for positions 0 … prompt + new − 2, the model's k most likely next
    // tokens (id, logit), most likely first.
    std::vector<std::vector<std::pair<std::int64_t, float>>> top_logits;
    std::int64_t kv_cache_bytes = 0;  // what the attention layers' KV caches held at the end
};

// Error for an empty prompt or ids outside the vocabulary.
GeneratedTokens generate_tokens(const MambaModel& model, std::span<const std::int64_t> prompt,
                                const GenerationOptions& options);

}  // namespace structseq
