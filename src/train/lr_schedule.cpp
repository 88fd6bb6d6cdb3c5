#include "structseq/train/lr_schedule.h"

#include "structseq/core/error.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace structseq {

double learning_rate_at(const SchedulerSettings& scheduler, double peak, std::int64_t step,
                        std::int64_t total) {
    const std::int64_t warmup = scheduler.warmup_steps;
    if (step < warmup) return peak * static_cast<double>(step + 1) / static_cast<double>(warmup);
    const double floor = peak * scheduler.min_lr_ratio;
    const double p =
        std::clamp(static_cast<double>(step - warmup) /
                       static_cast<double>(std::max<std::int64_t>(1, total - warmup - 1)),
                   0.0, 1.0);
    if (scheduler.name == "cosine") {
        return floor + (peak - floor) * 0.5 * (1 + std::cos(std::numbers::pi * p));
    }
    if (scheduler.name == "linear") return peak - (peak - floor) * p;
    if (scheduler.name == "constant") return peak;
    fail("scheduler.name: unknown schedule '{}' (expected cosine, linear or constant)",
         scheduler.name);
}

}  // namespace structseq
