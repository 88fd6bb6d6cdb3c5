#include "row_shares.h"

#include <algorithm>

namespace structseq {

namespace {

constexpr std::uint64_t pack(std::uint64_t front, std::uint64_t back) {
    return front << 32 | back;
}

std::uint64_t front_of(std::uint64_t blocks) {
    return blocks >> 32;
}

std::uint64_t back_of(std::uint64_t blocks) {
    return blocks & 0xffffffffu;
}

}  // namespace

RowShares::RowShares(std::int64_t begin, std::int64_t end, int parts, std::int64_t block)
    : begin_(begin), end_(end), block_(block), parts_(parts), shares_(new Share[parts]) {
    const std::int64_t count = (std::max<std::int64_t>(end - begin, 0) + block - 1) / block;
    for (int p = 0; p < parts; ++p) {
        shares_[p].blocks.store(pack(static_cast<std::uint64_t>(count * p / parts),
                                     static_cast<std::uint64_t>(count * (p + 1) / parts)),
                                std::memory_order_relaxed);
    }
}

std::int64_t RowShares::block_rows(std::int64_t row_bytes) {
    return std::max<std::int64_t>(1,
                                  (std::int64_t{1} << 16) / std::max<std::int64_t>(row_bytes, 1));
}

RowShares::Rows RowShares::rows_of(std::int64_t first, std::int64_t last) const {
    return {begin_ + first * block_, std::min(end_, begin_ + last * block_)};
}

RowShares::Rows RowShares::next(int part, std::int64_t blocks) {
    std::atomic<std::uint64_t>& own = shares_[part].blocks;
    std::uint64_t seen = own.load(std::memory_order_relaxed);
    while (front_of(seen) < back_of(seen)) {
        const std::uint64_t take = std::min<std::uint64_t>(std::max<std::int64_t>(blocks, 1),
                                                           back_of(seen) - front_of(seen));
        if (own.compare_exchange_weak(seen, pack(front_of(seen) + take, back_of(seen)),
                                      std::memory_order_relaxed)) {
            return rows_of(static_cast<std::int64_t>(front_of(seen)),
                           static_cast<std::int64_t>(front_of(seen) + take));
        }
    }
    while (true) {  // the back block of the share with the most left
        int richest = -1;
        std::uint64_t most = 0, seen_back = 0;
        for (int p = 0; p < parts_; ++p) {
            const std::uint64_t b = shares_[p].blocks.load(std::memory_order_relaxed);
            if (front_of(b) < back_of(b) && back_of(b) - front_of(b) > most) {
                richest = p;
                most = back_of(b) - front_of(b);
                seen_back = b;
            }
        }
        if (richest < 0) return {};
        if (shares_[richest].blocks.compare_exchange_weak(
                seen_back, pack(front_of(seen_back), back_of(seen_back) - 1),
                std::memory_order_relaxed)) {
            return rows_of(static_cast<std::int64_t>(back_of(seen_back) - 1),
                           static_cast<std::int64_t>(back_of(seen_back)));
        }
    }
}

}  // namespace structseq
