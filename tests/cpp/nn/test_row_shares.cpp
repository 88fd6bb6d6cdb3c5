#include "nn/row_shares.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <atomic>
#include <vector>

namespace structseq {
namespace {

// One thread alone takes its own share front to back, then the others' blocks from the back of
// the one with the most left; every row once.
TEST(RowShares, AThreadAloneTakesItsShareThenTheOthersFromTheBack) {
    RowShares shares(10, 40, 3, 4);  // 8 blocks: shares [0, 2), [2, 5), [5, 8)
    std::vector<std::pair<std::int64_t, std::int64_t>> taken;
    for (RowShares::Rows r = shares.next(0); !r.empty(); r = shares.next(0)) {
        taken.emplace_back(r.first, r.last);
    }
    // Ties go to the first share with the most left: share 1 (3 blocks left) before share 2 (3).
    const std::vector<std::pair<std::int64_t, std::int64_t>> expected = {
        {10, 14}, {14, 18},  // its own share, in order
        {26, 30}, {38, 40}, {22, 26}, {34, 38}, {18, 22}, {30, 34}};
    EXPECT_EQ(taken, expected);
    EXPECT_TRUE(shares.next(1).empty());
    EXPECT_TRUE(shares.next(2).empty());
}

// Several blocks at once come from the thread's own share, as far as it lasts; a taken block is
// one.
TEST(RowShares, SeveralBlocksAtOnceFromTheOwnShare) {
    RowShares shares(0, 95, 2, 10);  // 10 blocks: shares [0, 5), [5, 10); the last block 5 rows
    const auto rows = [](RowShares::Rows r) { return std::pair{r.first, r.last}; };
    EXPECT_EQ(rows(shares.next(0, 3)), (std::pair<std::int64_t, std::int64_t>{0, 30}));
    EXPECT_EQ(rows(shares.next(0, 3)), (std::pair<std::int64_t, std::int64_t>{30, 50}));
    EXPECT_EQ(rows(shares.next(0, 3)), (std::pair<std::int64_t, std::int64_t>{90, 95}));
    EXPECT_EQ(rows(shares.next(1, 8)), (std::pair<std::int64_t, std::int64_t>{50, 90}));
    EXPECT_TRUE(shares.next(1, 8).empty());
}

// Threads racing for blocks take every row exactly once, whatever their speeds.
TEST(RowShares, RacingThreadsTakeEveryRowOnce) {
    for (const int threads : {2, 3, 4}) {
        const std::int64_t rows = 10007;
        RowShares shares(0, rows, threads, 7);
        std::vector<std::atomic<int>> count(rows);
#pragma omp parallel num_threads(threads)
        {
            const int part = omp_get_thread_num();
            for (RowShares::Rows r = shares.next(part, part + 1); !r.empty();
                 r = shares.next(part, part + 1)) {
                for (std::int64_t k = r.first; k < r.last; ++k) count[k].fetch_add(1);
                // Uneven work per block, so that threads finish their own shares apart.
                volatile double sink = 0;
                for (int spin = 0; spin < 200 * (part + 1); ++spin) sink = sink + spin;
            }
        }
        int wrong = 0;
        for (std::int64_t k = 0; k < rows; ++k) wrong += count[k].load() != 1;
        EXPECT_EQ(wrong, 0) << threads << " threads";
    }
}

TEST(RowShares, BlocksOfAbout64KiB) {
    EXPECT_EQ(RowShares::block_rows(3072), 21);
    EXPECT_EQ(RowShares::block_rows(1 << 20), 1);
}

}  // namespace
}  // namespace structseq
