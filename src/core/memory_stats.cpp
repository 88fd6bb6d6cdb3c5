#include "structseq/core/memory_stats.h"

#include <atomic>

namespace structseq {

namespace {

std::atomic<std::int64_t> live{0};
std::atomic<std::int64_t> peak{0};

}  // namespace

std::int64_t tensor_bytes_live() { return live.load(); }

std::int64_t tensor_bytes_peak() { return peak.load(); }

void reset_tensor_bytes_peak() { peak.store(live.load()); }

namespace detail {

void record_tensor_allocation(std::int64_t bytes) {
    const std::int64_t now = live.fetch_add(bytes) + bytes;
    std::int64_t seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
}

}  // namespace detail

}  // namespace structseq
