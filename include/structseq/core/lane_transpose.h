#pragma once
// Moves between row-major rows and the lane-minor layout of lane_vector.h (x[i * Lanes + l])
// through square transposes of 32-byte registers: per W × W tile, W loads, W · log₂W shuffles
// and W stores instead of one load and one store per element. 32-byte pieces lower to one
// register on every clone with AVX (see store_interleaved).

#include "structseq/core/lane_vector.h"

#include <algorithm>
#include <cstdint>
#include <utility>

namespace structseq {

// Transposes a square tile of "units" (Group consecutive elements each) held in Units
// 32-byte pieces: unit u of piece j ends up as unit j of piece u. Stage s swaps the off-diagonal
// s × s blocks of units between pieces j and j + s.
template <class Piece, int Group, int Units, int Stage, std::size_t... K>
STRUCTSEQ_ALWAYS_INLINE void transpose_stage(Piece* p, std::index_sequence<K...>) {
    using Element = std::remove_cvref_t<decltype(p[0][0])>;
    using Index = std::conditional_t<sizeof(Element) == 8, std::int64_t, std::int32_t>;
    typedef Index IndexVector __attribute__((vector_size(sizeof(Piece))));
    constexpr int width = Units * Group;  // elements per piece
    constexpr IndexVector low = {
        static_cast<Index>((K / Group) & Stage ? width + K - Stage * Group : K)...};
    constexpr IndexVector high = {
        static_cast<Index>((K / Group) & Stage ? width + K : K + Stage * Group)...};
    for (int j = 0; j < Units; ++j) {
        if (j & Stage) continue;
        const Piece x = p[j], y = p[j + Stage];
        p[j] = __builtin_shuffle(x, y, low);
        p[j + Stage] = __builtin_shuffle(x, y, high);
    }
}

template <class Piece, int Group, int Units>
STRUCTSEQ_ALWAYS_INLINE void transpose_units(Piece* p) {
    constexpr auto elements = std::make_index_sequence<Units * Group>();
    if constexpr (Units >= 2) transpose_stage<Piece, Group, Units, 1>(p, elements);
    if constexpr (Units >= 4) transpose_stage<Piece, Group, Units, 2>(p, elements);
    if constexpr (Units >= 8) transpose_stage<Piece, Group, Units, 4>(p, elements);
}

// Positions per tile. Rows of a batch usually sit a power of two apart and share L1 sets, so
// each row is read or written in runs of whole cache lines (a tile) before the next row is
// touched; the lane-minor side of a tile (at most 64 · Lanes · 16 bytes) stays in L1.
constexpr std::int64_t kLaneTransposeTile = 64;

// x[i * Lanes + l] = rows[l][i] (+ shift[i] when shift is not null) for i < n, l < Lanes.
template <int Lanes, class Real>
STRUCTSEQ_ALWAYS_INLINE void gather_lanes(const Real* const* rows, std::int64_t n, Real* x,
                                          const Real* shift = nullptr) {
    typedef Real Piece __attribute__((vector_size(32)));
    constexpr int w = 32 / sizeof(Real);
    static_assert(Lanes % w == 0);
    const std::int64_t full = n / w * w;
    for (std::int64_t t0 = 0; t0 < full; t0 += kLaneTransposeTile) {
        const std::int64_t t1 = std::min(full, t0 + kLaneTransposeTile);
        for (int l0 = 0; l0 < Lanes; l0 += w) {
            for (std::int64_t i = t0; i < t1; i += w) {
                Piece p[w];
                for (int j = 0; j < w; ++j) p[j] = load_lanes<Piece>(rows[l0 + j] + i);
                transpose_units<Piece, 1, w>(p);
                if (shift != nullptr) {
                    for (int j = 0; j < w; ++j) p[j] += shift[i + j];
                }
                for (int j = 0; j < w; ++j) store_lanes(x + (i + j) * Lanes + l0, p[j]);
            }
        }
    }
    for (int l = 0; l < Lanes; ++l) {
        for (std::int64_t i = full; i < n; ++i) {
            x[i * Lanes + l] = rows[l][i] + (shift != nullptr ? shift[i] : Real(0));
        }
    }
}

// rows[l][2 i + k] = x[2 (i * Lanes + l) + k] for i < n, l < Lanes, k ∈ {0, 1}: interleaved
// (Re, Im) pairs from the lane-minor layout back to complex rows.
template <int Lanes, class Real>
STRUCTSEQ_ALWAYS_INLINE void scatter_lane_pairs(const Real* x, std::int64_t n, Real* const* rows) {
    typedef Real Piece __attribute__((vector_size(32)));
    constexpr int u = 32 / (2 * sizeof(Real));  // pairs per piece
    static_assert(Lanes % u == 0);
    const std::int64_t full = n / u * u;
    for (std::int64_t t0 = 0; t0 < full; t0 += kLaneTransposeTile) {
        const std::int64_t t1 = std::min(full, t0 + kLaneTransposeTile);
        for (int l0 = 0; l0 < Lanes; l0 += u) {
            for (std::int64_t i = t0; i < t1; i += u) {
                Piece p[u];
                for (int j = 0; j < u; ++j) {
                    p[j] = load_lanes<Piece>(x + 2 * ((i + j) * Lanes + l0));
                }
                transpose_units<Piece, 2, u>(p);
                for (int j = 0; j < u; ++j) store_lanes(rows[l0 + j] + 2 * i, p[j]);
            }
        }
    }
    for (int l = 0; l < Lanes; ++l) {
        for (std::int64_t i = full; i < n; ++i) {
            rows[l][2 * i] = x[2 * (i * Lanes + l)];
            rows[l][2 * i + 1] = x[2 * (i * Lanes + l) + 1];
        }
    }
}

// Collects a lane block's results, one position (Lanes complex values) at a time, in a buffer
// of kSpan positions that stays in L1, and writes each full span to the rows with
// scatter_lane_pairs: a position's results go out without a round trip through a (n, Lanes)
// scratch array. Positions may arrive in either direction; `put` returns after position i and
// `flush_after` decides when the span holding i is complete.
template <class Real, int Lanes>
class LanePairSink {
public:
    static constexpr std::int64_t kSpan = 4;

    explicit LanePairSink(Real* const* rows) {
        for (int l = 0; l < Lanes; ++l) rows_[l] = rows[l];
    }

    template <class V>
    STRUCTSEQ_ALWAYS_INLINE void put(std::int64_t i, V re, V im) {
        store_interleaved(buffer_ + 2 * (i % kSpan) * Lanes, re, im);
    }

    // Writes positions first .. first + count - 1 (one span, first a multiple of kSpan).
    STRUCTSEQ_ALWAYS_INLINE void flush(std::int64_t first, std::int64_t count) {
        Real* at[Lanes];
        for (int l = 0; l < Lanes; ++l) at[l] = rows_[l] + 2 * first;
        scatter_lane_pairs<Lanes>(buffer_, count, at);
    }

    STRUCTSEQ_ALWAYS_INLINE void prefetch(std::int64_t first) const {
        for (int l = 0; l < Lanes; ++l) __builtin_prefetch(rows_[l] + 2 * first, 1);
    }

private:
    alignas(64) Real buffer_[2 * kSpan * Lanes];
    Real* rows_[Lanes];
};

}  // namespace structseq
