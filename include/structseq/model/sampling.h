#pragma once
// The next token from a logits row (vocab,):
//   1. repetition penalty r ≠ 1 (CTRL, Keskar et al. 2019): the logit of every token in `recent`
//      is divided by r when positive, multiplied by r when not;
//   2. temperature T = 0: the arg-max (the lowest id on ties);
//   3. otherwise p = softmax(logits / T), kept to the top_k most likely tokens (0: all), then to
//      the smallest most-likely-first set whose mass reaches top_p (1: all), renormalized; the
//      token whose cumulative mass (most likely first, lower id on ties) first exceeds u · mass.
// u in [0, 1) comes from the caller (Rng::uniform), so a seed fixes the whole generation.

#include <cstdint>
#include <span>

namespace structseq {

struct SamplingOptions {
    double temperature = 1.0;
    std::int64_t top_k = 0;
    double top_p = 1.0;
    double repetition_penalty = 1.0;
};

// Error naming the option when temperature < 0, top_k < 0, top_p outside (0, 1] or
// repetition_penalty ≤ 0.
void check_sampling_options(const SamplingOptions& options);

std::int64_t sample_next_token(std::span<const float> logits, const SamplingOptions& options,
                               double u, std::span<const std::int64_t> recent = {});

}  // namespace structseq
