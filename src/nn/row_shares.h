#pragma once
// Rows [begin, end) of a memory-bound product shared out among `parts` threads in blocks. Thread
// t owns the t-th contiguous share and takes its blocks front to back, one sequential stream as
// the hardware prefetcher wants. A thread whose share is done takes blocks from the back of the
// share with the most blocks left, so threads that stream at different rates (on a shared
// machine they do, by several percent) finish together instead of one waiting for the other.
// Which thread computes a row never changes its value, so the results are the same bits
// whichever way the blocks fall. Thread-safe: one CAS per block.

#include <atomic>
#include <cstdint>
#include <memory>

namespace structseq {

class RowShares {
public:
    // block ≥ 1 rows; parts ≥ 1.
    RowShares(std::int64_t begin, std::int64_t end, int parts, std::int64_t block);
    // Rows of row_bytes each that make a block of about 64 KiB: a claim costs one CAS, and a
    // taken block is short enough to leave the threads finishing within a few microseconds.
    static std::int64_t block_rows(std::int64_t row_bytes);

    struct Rows {
        std::int64_t first = 0, last = 0;  // [first, last); empty when no rows are left
        bool empty() const { return first >= last; }
    };
    // The next block for thread `part` (0 ≤ part < parts); up to `blocks` consecutive ones while
    // its own share lasts (a taken block is always one).
    Rows next(int part, std::int64_t blocks = 1);

private:
    // A share's blocks still to take, [front, back) packed as front << 32 | back, on a cache line
    // of its own.
    struct alignas(64) Share {
        std::atomic<std::uint64_t> blocks;
    };
    // Rows of blocks [first, last).
    Rows rows_of(std::int64_t first, std::int64_t last) const;

    std::int64_t begin_ = 0, end_ = 0, block_ = 1;
    int parts_ = 1;
    std::unique_ptr<Share[]> shares_;
};

}  // namespace structseq
