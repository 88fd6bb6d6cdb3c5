#include "structseq/core/threads.h"

#include "structseq/core/error.h"

#include <omp.h>

#include <atomic>
#include <charconv>
#include <cstdlib>
#include <string>
#include <thread>

extern "C" void openblas_set_num_threads(int num_threads);

namespace structseq {

namespace {

constexpr int kMaxThreads = 4096;

int initial_threads() {
    if (const char* env = std::getenv("STRUCTSEQ_NUM_THREADS"); env != nullptr && *env != '\0') {
        return parse_thread_count(env, "STRUCTSEQ_NUM_THREADS");
    }
    return hardware_threads();
}

std::atomic<int>& thread_count() {
    static std::atomic<int> count = [] {
        const int n = initial_threads();
        openblas_set_num_threads(n);
        return n;
    }();
    return count;
}

}  // namespace

int hardware_threads() {
    const int n = omp_get_num_procs();
    return n > 0 ? n : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

int parse_thread_count(std::string_view text, std::string_view source) {
    int value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < 1 || value > kMaxThreads) {
        fail_argument(source, "the thread count", fmt::format("\"{}\"", text),
                      fmt::format("an integer in [1, {}]", kMaxThreads));
    }
    return value;
}

int num_threads() {
    return thread_count().load(std::memory_order_relaxed);
}

void set_num_threads(int n) {
    check_argument(n >= 1 && n <= kMaxThreads, "set_num_threads", "n", std::to_string(n),
                   fmt::format("an integer in [1, {}]", kMaxThreads));
    thread_count().store(n, std::memory_order_relaxed);
    openblas_set_num_threads(n);
}

}  // namespace structseq
