#pragma once
// Sets the thread count for one benchmark and restores it when the benchmark ends.

#include "structseq/core/threads.h"

#include <cstdint>

namespace structseq {

class ThreadScope {
public:
    explicit ThreadScope(std::int64_t threads) : saved_(num_threads()) {
        set_num_threads(static_cast<int>(threads));
    }
    ~ThreadScope() { set_num_threads(saved_); }
    ThreadScope(const ThreadScope&) = delete;
    ThreadScope& operator=(const ThreadScope&) = delete;

private:
    int saved_;
};

}  // namespace structseq
