#include "structseq/core/threads.h"

#include "test_util.h"

#include <omp.h>

namespace structseq {
namespace {

TEST(Threads, SetAndGet) {
    const int saved = num_threads();
    EXPECT_GE(saved, 1);
    set_num_threads(3);
    EXPECT_EQ(num_threads(), 3);
    int seen = 0;
#pragma omp parallel num_threads(num_threads())
    {
#pragma omp single
        seen = omp_get_num_threads();
    }
    EXPECT_EQ(seen, 3);
    set_num_threads(saved);
    EXPECT_EQ(num_threads(), saved);
}

TEST(Threads, RejectsBadCounts) {
    EXPECT_ERROR_CONTAINS(set_num_threads(0),
                          "set_num_threads: n is 0, expected an integer in [1, 4096]");
    EXPECT_ERROR_CONTAINS(set_num_threads(-2), "n is -2");
}

TEST(Threads, ParsesCounts) {
    EXPECT_EQ(parse_thread_count("4", "--threads"), 4);
    EXPECT_ERROR_CONTAINS(
        parse_thread_count("four", "STRUCTSEQ_NUM_THREADS"),
        "STRUCTSEQ_NUM_THREADS: the thread count is \"four\", expected an integer in [1, 4096]");
    EXPECT_ERROR_CONTAINS(parse_thread_count("2x", "--threads"), "\"2x\"");
    EXPECT_ERROR_CONTAINS(parse_thread_count("0", "--threads"), "\"0\"");
    EXPECT_ERROR_CONTAINS(parse_thread_count("", "--threads"), "\"\"");
}

}  // namespace
}  // namespace structseq
