#pragma once
// The learning rate of optimizer step s (0-based) of `total` with peak η and floor m = η ·
// min_lr_ratio: a linear warmup η (s + 1)/w over the first w = warmup_steps steps, then with
// p = (s − w)/max(1, total − w − 1) ∈ [0, 1]
//   cosine:   m + (η − m) · ½ (1 + cos π p)
//   linear:   η − (η − m) · p
//   constant: η

#include "structseq/train/run_config.h"

#include <cstdint>

namespace structseq {

double learning_rate_at(const SchedulerSettings& scheduler, double peak, std::int64_t step,
                        std::int64_t total);

}  // namespace structseq
