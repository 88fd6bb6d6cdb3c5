#include "structseq/model/sampling.h"

#include "structseq/core/error.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

namespace structseq {

void check_sampling_options(const SamplingOptions& o) {
    constexpr std::string_view where = "sampling";
    check_argument(std::isfinite(o.temperature) && o.temperature >= 0, where, "temperature",
                   fmt::format("{}", o.temperature), "a number >= 0 (0: greedy)");
    check_argument(o.top_k >= 0, where, "top_k", std::to_string(o.top_k), ">= 0 (0: all)");
    check_argument(o.top_p > 0 && o.top_p <= 1, where, "top_p", fmt::format("{}", o.top_p),
                   "in (0, 1]");
    check_argument(std::isfinite(o.repetition_penalty) && o.repetition_penalty > 0, where,
                   "repetition_penalty", fmt::format("{}", o.repetition_penalty), "> 0");
}

std::int64_t sample_next_token(std::span<const float> logits, const SamplingOptions& o, double u,
                               std::span<const std::int64_t> recent) {
    check_sampling_options(o);
    const auto vocab = static_cast<std::int64_t>(logits.size());
    check_argument(vocab > 0, "sample_next_token", "logits", "empty", "at least one logit");
    std::vector<double> score(logits.begin(), logits.end());
    if (o.repetition_penalty != 1) {
        for (const std::int64_t id : recent) {
            if (id < 0 || id >= vocab) continue;
            double& s = score[static_cast<std::size_t>(id)];
            s = s > 0 ? s / o.repetition_penalty : s * o.repetition_penalty;
        }
    }
    std::vector<std::int64_t> order(static_cast<std::size_t>(vocab));
    std::iota(order.begin(), order.end(), 0);
    const auto more_likely = [&](std::int64_t a, std::int64_t b) {
        const double sa = score[static_cast<std::size_t>(a)],
                     sb = score[static_cast<std::size_t>(b)];
        return sa > sb || (sa == sb && a < b);
    };
    if (o.temperature == 0) return *std::min_element(order.begin(), order.end(), more_likely);
    // Only the top_k most likely need ordering (a 50k vocabulary is sorted per token otherwise).
    const std::int64_t kept_k = o.top_k > 0 ? std::min(o.top_k, vocab) : vocab;
    std::partial_sort(order.begin(), order.begin() + kept_k, order.end(), more_likely);
    const double top = score[static_cast<std::size_t>(order[0])];
    std::vector<double> p(static_cast<std::size_t>(kept_k));
    double total = 0;
    for (std::int64_t i = 0; i < kept_k; ++i) {
        p[static_cast<std::size_t>(i)] =
            std::exp((score[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])] - top) /
                     o.temperature);
        total += p[static_cast<std::size_t>(i)];
    }
    std::int64_t kept = kept_k;
    double mass = 0;
    for (std::int64_t i = 0; i < kept_k; ++i) {
        mass += p[static_cast<std::size_t>(i)] / total;
        if (mass >= o.top_p) {
            kept = i + 1;
            break;
        }
    }
    double kept_mass = 0;
    for (std::int64_t i = 0; i < kept; ++i) kept_mass += p[static_cast<std::size_t>(i)];
    const double target = u * kept_mass;
    double cumulative = 0;
    for (std::int64_t i = 0; i < kept; ++i) {
        cumulative += p[static_cast<std::size_t>(i)];
        if (cumulative > target) return order[static_cast<std::size_t>(i)];
    }
    return order[static_cast<std::size_t>(kept - 1)];
}

}  // namespace structseq
