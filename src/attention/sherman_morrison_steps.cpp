#include "sherman_morrison_steps.h"

#include "structseq/core/cpu_dispatch.h"
#include "structseq/core/lane_vector.h"

#include <algorithm>

namespace structseq::attention_detail {

namespace {

using Index = std::int64_t;

template <class Real>
constexpr int kLanes = 64 / static_cast<int>(sizeof(Real));
template <class Real>
using Vec = LaneVector<Real, kLanes<Real>>;

constexpr int kMaxVectors = 16;

// The n values at src as `vectors` vectors, zero past n.
template <class Real>
STRUCTSEQ_ALWAYS_INLINE void load_row(const Real* src, Index n, int vectors, Vec<Real>* to) {
    constexpr int L = kLanes<Real>;
    for (int u = 0; u < vectors; ++u) {
        const Index left = n - Index{u} * L;
        if (left >= L) {
            to[u] = load_lanes<Vec<Real>>(src + u * L);
        } else {
            to[u] = Vec<Real>{};
            if (left > 0) {
                __builtin_memcpy(&to[u], src + u * L,
                                 static_cast<std::size_t>(left) * sizeof(Real));
            }
        }
    }
}

// The first n lanes of `vectors` vectors to dst.
template <class Real>
STRUCTSEQ_ALWAYS_INLINE void store_row(Real* dst, Index n, int vectors, const Vec<Real>* from) {
    constexpr int L = kLanes<Real>;
    for (int u = 0; u < vectors; ++u) {
        const Index left = n - Index{u} * L;
        if (left >= L) {
            store_lanes(dst + u * L, from[u]);
        } else if (left > 0) {
            __builtin_memcpy(dst + u * L, &from[u], static_cast<std::size_t>(left) * sizeof(Real));
        }
    }
}

// One pass over the rows of A (rows × vectors·lanes, row stride lda): row i ← row i + scale_i x,
// and acc[m] = Σ_i (updated row i) next[m][i] for the Next ≤ 2 rows next[m] (length `rows`): the
// products Aᵀ next[m] with the updated A. P is symmetric, so for P this is P k.
template <class Real, int Vectors, int Next>
STRUCTSEQ_ALWAYS_INLINE void update_rows(Real* A, Index lda, Index rows, int vectors,
                                         const Real* scale, const Vec<Real>* x,
                                         const Real* const* next, Vec<Real> (*acc)[Vectors]) {
    using V = Vec<Real>;
    constexpr int L = kLanes<Real>;
    static_assert(Next >= 0 && Next <= 2);
    V first[Vectors] = {}, second[Vectors] = {};  // two named arrays stay in registers
    for (Index i = 0; i < rows; ++i) {
        Real* row = A + i * lda;
        const V si = V{} + scale[i];
        const Real w0 = Next > 0 ? next[0][i] : Real(0), w1 = Next > 1 ? next[1][i] : Real(0);
#pragma GCC unroll 16
        for (int u = 0; u < vectors; ++u) {
            const V r = load_lanes<V>(row + u * L) + si * x[u];
            store_lanes(row + u * L, r);
            if constexpr (Next > 0) first[u] += r * w0;
            if constexpr (Next > 1) second[u] += r * w1;
        }
    }
#pragma GCC unroll 16
    for (int u = 0; u < vectors; ++u) {
        if constexpr (Next > 0) acc[0][u] = first[u];
        if constexpr (Next > 1) acc[1][u] = second[u];
    }
}

// Σ over the vectors of a ⊙ b, summed over the lanes.
template <class Real>
STRUCTSEQ_ALWAYS_INLINE Real dot(const Vec<Real>* a, const Vec<Real>* b, int vectors) {
    Vec<Real> sum{};
    for (int u = 0; u < vectors; ++u) sum += a[u] * b[u];
    return lane_sum(sum);
}

// `count` tokens; Vectors = ldp / lanes = ldw / lanes when known at compile time, else 0.
template <class Real, int Vectors>
STRUCTSEQ_ALWAYS_INLINE void run_steps(const ShermanMorrisonState<Real>& s, const Real* q,
                                       const Real* k, const Real* v, Index count, Real* out) {
    using V = Vec<Real>;
    constexpr int L = kLanes<Real>;
    constexpr int kV = Vectors > 0 ? Vectors : kMaxVectors;
    const int pv = Vectors > 0 ? Vectors : static_cast<int>(s.ldp / L);
    const int wv = Vectors > 0 ? Vectors : static_cast<int>(s.ldw / L);
    const Index d = s.d, dv = s.dv;
    alignas(64) Real scale[kV * L];  // −g, then g: the rows' coefficients in update_rows
    V p[kV], kv[kV], qv[kV], e[kV], o[kV];
    V pk[1][kV], aq[2][kV];  // the next token's P k and [Wᵀk, Wᵀq]
    // The first token's products, from the state as given (a pass with a zero update).
    std::fill(scale, scale + kV * L, Real(0));
    for (int u = 0; u < kV; ++u) p[u] = V{};
    {
        const Real* next_p[1] = {k};
        update_rows<Real, kV, 1>(s.P, s.ldp, d, pv, scale, p, next_p, pk);
        const Real* next_w[2] = {k, q};
        update_rows<Real, kV, 2>(s.W, s.ldw, d, wv, scale, p, next_w, aq);
    }
    for (Index t = 0; t < count; ++t) {
        const Real *kt = k + t * d, *qt = q + t * d;
        load_row(kt, d, pv, kv);
        load_row(qt, d, pv, qv);
        for (int u = 0; u < pv; ++u) p[u] = pk[0][u];
        const Real inv = Real(1) / (Real(1) + dot<Real>(p, kv, pv));
        Real gq = 0;
        {
            V sum{};
            for (int u = 0; u < pv; ++u) {
                const V g = p[u] * inv;
                sum += g * qv[u];
                store_lanes(scale + u * L, -g);
            }
            gq = lane_sum(sum);
        }
        load_row(v + t * dv, dv, wv, e);
        for (int u = 0; u < wv; ++u) {
            e[u] -= aq[0][u];
            o[u] = aq[1][u] + gq * e[u];
        }
        store_row(out + t * dv, dv, wv, o);
        // P ← P − g pᵀ, then W ← W + g eᵀ, with the next token's products on the way.
        const bool last = t + 1 == count;
        const Real* next[2] = {kt + d, qt + d};
        if (!last) {
            update_rows<Real, kV, 1>(s.P, s.ldp, d, pv, scale, p, next, pk);
        } else {
            update_rows<Real, kV, 0>(s.P, s.ldp, d, pv, scale, p, nullptr, nullptr);
        }
        for (int u = 0; u < pv; ++u) store_lanes(scale + u * L, -load_lanes<V>(scale + u * L));
        if (!last) {
            update_rows<Real, kV, 2>(s.W, s.ldw, d, wv, scale, e, next, aq);
        } else {
            update_rows<Real, kV, 0>(s.W, s.ldw, d, wv, scale, e, nullptr, nullptr);
        }
    }
}

template <class Real>
STRUCTSEQ_ALWAYS_INLINE void dispatch(const ShermanMorrisonState<Real>& s, const Real* q,
                                      const Real* k, const Real* v, Index count, Real* out) {
    constexpr int L = kLanes<Real>;
    const Index vectors = s.ldp / L;
    if (s.ldp == s.ldw && vectors == 1) {
        run_steps<Real, 1>(s, q, k, v, count, out);
    } else if (s.ldp == s.ldw && vectors == 2) {
        run_steps<Real, 2>(s, q, k, v, count, out);
    } else if (s.ldp == s.ldw && vectors == 4) {
        run_steps<Real, 4>(s, q, k, v, count, out);
    } else {
        run_steps<Real, 0>(s, q, k, v, count, out);
    }
}

}  // namespace

std::int64_t padded_width(std::int64_t n, std::int64_t element_bytes) {
    const std::int64_t lanes = 64 / element_bytes;
    return (n + lanes - 1) / lanes * lanes;
}

std::int64_t sherman_morrison_max_width(std::int64_t element_bytes) {
    return kMaxVectors * (64 / element_bytes);
}

STRUCTSEQ_CPU_CLONES
void sherman_morrison_steps(const ShermanMorrisonState<float>& s, const float* q, const float* k,
                            const float* v, std::int64_t count, float* out) {
    dispatch(s, q, k, v, count, out);
}

STRUCTSEQ_CPU_CLONES
void sherman_morrison_steps(const ShermanMorrisonState<double>& s, const double* q, const double* k,
                            const double* v, std::int64_t count, double* out) {
    dispatch(s, q, k, v, count, out);
}

}  // namespace structseq::attention_detail
