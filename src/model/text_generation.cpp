#include "structseq/model/text_generation.h"

#include "structseq/core/error.h"
#include "structseq/core/rng.h"

#include <algorithm>
#include <deque>
#include <numeric>

namespace structseq {

namespace {

std::vector<std::pair<std::int64_t, float>> top_k(const float* logits, std::int64_t vocab,
                                                  std::int64_t k) {
    std::vector<std::int64_t> order(static_cast<std::size_t>(vocab));
    std::iota(order.begin(), order.end(), 0);
    k = std::min(k, vocab);
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](auto a, auto b) {
        return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    std::vector<std::pair<std::int64_t, float>> out;
    for (std::int64_t i = 0; i < k; ++i) {
        out.emplace_back(order[static_cast<std::size_t>(i)],
                         logits[order[static_cast<std::size_t>(i)]]);
    }
    return out;
}

}  // namespace

GeneratedTokens generate_tokens(const MambaModel& model, std::span<const std::int64_t> prompt,
                                const GenerationOptions& o) {
    check_sampling_options(o.sampling);
    if (prompt.empty()) fail("generate: the prompt is empty; give at least one token");
    const std::int64_t vocab = o.vocab > 0 ? o.vocab : model.config().vocab_size;
    check_argument(vocab <= model.config().vocab_size, "generate", "vocab", std::to_string(vocab),
                   "at most the model's vocab_size " + std::to_string(model.config().vocab_size));
    GeneratedTokens out;
    MambaState state = model.initial_state(1, o.kv_cache);
    Tensor token({1}, DType::I64);
    Tensor logits;
    const auto advance = [&](std::int64_t id, bool record) {
        token.data<std::int64_t>()[0] = id;
        logits = model.step(token, state);
        if (record && o.record_top_k > 0) {
            out.top_logits.push_back(top_k(logits.data<float>(), vocab, o.record_top_k));
        }
    };
    for (std::size_t i = 0; i < prompt.size(); ++i) {
        advance(prompt[i], i + 1 < prompt.size() || o.max_new_tokens > 0);
    }
    Rng rng(o.seed, /*stream=*/0x6e);
    std::deque<std::int64_t> recent(prompt.begin(), prompt.end());
    while (recent.size() > 64) recent.pop_front();
    for (std::int64_t i = 0; i < o.max_new_tokens; ++i) {
        const std::vector<std::int64_t> window(recent.begin(), recent.end());
        const std::int64_t next = sample_next_token(
            std::span<const float>(logits.data<float>(), static_cast<std::size_t>(vocab)),
            o.sampling, rng.uniform(), window);
        out.tokens.push_back(next);
        recent.push_back(next);
        if (recent.size() > 64) recent.pop_front();
        if (o.on_token) o.on_token(next);
        if (i + 1 < o.max_new_tokens) advance(next, true);
    }
    out.kv_cache_bytes = state.kv_cache_bytes();
    return out;
}

}  // namespace structseq
