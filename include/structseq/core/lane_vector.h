#pragma once
// GCC vector types for "lanes": independent rows processed together in structure-of-arrays
// form, lane-minor (x[i * Lanes + l]), so that each step of a serial recursion is one vector
// operation across rows. Each CPU clone (cpu_dispatch.h) lowers a lane vector to its widest
// registers (two zmm, four ymm or eight xmm), which also gives independent chains to
// interleave. Including this header silences -Wpsabi for the including file: the vectors only
// live inside always-inline helpers, so no call passes them in registers whose convention
// differs between the clones.

#include "structseq/core/cpu_dispatch.h"

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#pragma GCC diagnostic ignored "-Wpsabi"

namespace structseq {

template <class Real, int Lanes>
struct LaneVectorOf;
template <>
struct LaneVectorOf<double, 16> {
    typedef double type __attribute__((vector_size(128)));
};
template <>
struct LaneVectorOf<double, 8> {
    typedef double type __attribute__((vector_size(64)));
};
template <>
struct LaneVectorOf<float, 16> {
    typedef float type __attribute__((vector_size(64)));
};
template <>
struct LaneVectorOf<float, 32> {
    typedef float type __attribute__((vector_size(128)));
};
template <class Real, int Lanes>
using LaneVector = typename LaneVectorOf<Real, Lanes>::type;

// std::vector of lane vectors: the default allocator does not see a vector type's 64-byte
// alignment once it passes through a template argument, so this one asks for it.
template <class T>
struct LaneAllocator {
    using value_type = T;
    LaneAllocator() = default;
    template <class U>
    LaneAllocator(const LaneAllocator<U>&) {}
    T* allocate(std::size_t n) {
        return static_cast<T*>(::operator new (n * sizeof(T), std::align_val_t{64}));
    }
    void deallocate(T* p, std::size_t) { ::operator delete (p, std::align_val_t{64}); }
    bool operator==(const LaneAllocator&) const { return true; }
};
template <class V>
using LaneArray = std::vector<V, LaneAllocator<V>>;

// min(x, y) of non-negative values without a compare-and-select, which GCC splits into scalar
// code for vectors wider than the machine's: non-negative IEEE numbers order like their bit
// patterns read as signed integers, and min(p, q) = q + ((p - q) & ((p - q) >> (bits - 1))).
template <class V>
STRUCTSEQ_ALWAYS_INLINE V lane_min(V x, V y) {
    using Element = std::remove_cvref_t<decltype(x[0])>;
    using Bits = std::conditional_t<sizeof(Element) == 8, std::int64_t, std::int32_t>;
    typedef Bits BitsVector __attribute__((vector_size(sizeof(V))));
    BitsVector p, q;
    __builtin_memcpy(&p, &x, sizeof(V));
    __builtin_memcpy(&q, &y, sizeof(V));
    const BitsVector difference = p - q;
    const BitsVector smaller = q + (difference & (difference >> (8 * sizeof(Bits) - 1)));
    V out;
    __builtin_memcpy(&out, &smaller, sizeof(V));
    return out;
}

// Sum of a lane vector's elements by halving: log2(lanes) vector adds where a loop over the
// lanes is a chain of lanes − 1 dependent scalar adds.
template <class V>
STRUCTSEQ_ALWAYS_INLINE auto lane_sum(V v) {
    using Element = std::remove_cvref_t<decltype(v[0])>;
    if constexpr (sizeof(V) == 2 * sizeof(Element)) {
        return v[0] + v[1];
    } else {
        typedef Element Half __attribute__((vector_size(sizeof(V) / 2)));
        Half low, high;
        __builtin_memcpy(&low, &v, sizeof(Half));
        __builtin_memcpy(&high, reinterpret_cast<const char*>(&v) + sizeof(Half), sizeof(Half));
        return lane_sum(low + high);
    }
}

template <class V, class Real>
STRUCTSEQ_ALWAYS_INLINE V load_lanes(const Real* p) {
    V v;
    __builtin_memcpy(&v, p, sizeof(V));
    return v;
}

template <class V, class Real>
STRUCTSEQ_ALWAYS_INLINE void store_lanes(Real* p, V v) {
    __builtin_memcpy(p, &v, sizeof(V));
}

// The first `count` values at p (0 ≤ count ≤ the lanes of V), the other lanes zero.
template <class V, class Real>
STRUCTSEQ_ALWAYS_INLINE V load_lanes_partial(const Real* p, std::int64_t count) {
    if (count * static_cast<std::int64_t>(sizeof(Real)) == static_cast<std::int64_t>(sizeof(V))) {
        return load_lanes<V>(p);
    }
    V v = {};
    __builtin_memcpy(&v, p, static_cast<std::size_t>(count) * sizeof(Real));
    return v;
}

// The first `count` lanes of v to p (0 ≤ count ≤ the lanes of V); nothing past them is written.
template <class V, class Real>
STRUCTSEQ_ALWAYS_INLINE void store_lanes_partial(Real* p, V v, std::int64_t count) {
    if (count * static_cast<std::int64_t>(sizeof(Real)) == static_cast<std::int64_t>(sizeof(V))) {
        store_lanes(p, v);
    } else {
        __builtin_memcpy(p, &v, static_cast<std::size_t>(count) * sizeof(Real));
    }
}

// Stores (re[0], im[0], re[1], im[1], ...) at p: 2 · Lanes values. Works in 32-byte pieces
// with constant masks: GCC lowers a shuffle of a vector wider than the machine's element by
// element through the stack, but a 32-byte one to a permute on every clone that has AVX.
template <class Real, std::size_t... K>
STRUCTSEQ_ALWAYS_INLINE void store_interleaved_piece(Real* p, const Real* re, const Real* im,
                                                     std::index_sequence<K...>) {
    constexpr std::int64_t width = sizeof...(K);
    typedef Real Piece __attribute__((vector_size(32)));
    using Index = std::conditional_t<sizeof(Real) == 8, std::int64_t, std::int32_t>;
    typedef Index IndexVector __attribute__((vector_size(32)));
    constexpr IndexVector low = {static_cast<Index>(K / 2 + (K % 2) * width)...};
    constexpr IndexVector high = {static_cast<Index>(width / 2 + K / 2 + (K % 2) * width)...};
    const Piece r = load_lanes<Piece>(re), i = load_lanes<Piece>(im);
    store_lanes(p, __builtin_shuffle(r, i, low));
    store_lanes(p + width, __builtin_shuffle(r, i, high));
}

template <class V, class Real>
STRUCTSEQ_ALWAYS_INLINE void store_interleaved(Real* p, V re, V im) {
    constexpr int width = 32 / sizeof(Real);
    for (int k = 0; k < static_cast<int>(sizeof(V) / 32); ++k) {
        store_interleaved_piece(p + 2 * k * width, reinterpret_cast<const Real*>(&re) + k * width,
                                reinterpret_cast<const Real*>(&im) + k * width,
                                std::make_index_sequence<width>());
    }
}

}  // namespace structseq
