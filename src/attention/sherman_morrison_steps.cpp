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
        to[u] = load_lanes_partial<Vec<Real>>(src + u * L, std::clamp<Index>(n - u * L, 0, L));
    }
}

// The first n lanes of `vectors` vectors to dst.
template <class Real>
STRUCTSEQ_ALWAYS_INLINE void store_row(Real* dst, Index n, int vectors, const Vec<Real>* from) {
    constexpr int L = kLanes<Real>;
    for (int u = 0; u < vectors; ++u) {
        store_lanes_partial(dst + u * L, from[u], std::clamp<Index>(n - u * L, 0, L));
    }
}

// One pass over the rows of A (rows × vectors·lanes, row stride lda), with up to two rank-one
// updates and four products:
//   row i ← row i + Σ_{j<Updates} scale[j][i] x[j],
//   acc[m] = Σ_i (updated row i) next[m][i]   for m < Next (next[m] of length `rows`),
// the products Aᵀ next[m] with the updated A (P is symmetric, so for P these are P k). The
// accumulators are named arrays, which GCC keeps in registers.
template <class Real, int Vectors, int Updates, int Next>
STRUCTSEQ_ALWAYS_INLINE void update_rows(Real* A, Index lda, Index rows, int vectors,
                                         const Real* const* scale, const Vec<Real>* const* x,
                                         const Real* const* next, Vec<Real> (*acc)[Vectors]) {
    using V = Vec<Real>;
    constexpr int L = kLanes<Real>;
    static_assert(Updates >= 0 && Updates <= 2 && Next >= 0 && Next <= 4);
    V acc0[Vectors] = {}, acc1[Vectors] = {}, acc2[Vectors] = {}, acc3[Vectors] = {};
    for (Index i = 0; i < rows; ++i) {
        Real* row = A + i * lda;
        V s0{}, s1{};
        if constexpr (Updates > 0) s0 += scale[0][i];
        if constexpr (Updates > 1) s1 += scale[1][i];
        Real w[Next > 0 ? Next : 1];
#pragma GCC unroll 4
        for (int m = 0; m < Next; ++m) w[m] = next[m][i];
#pragma GCC unroll 16
        for (int u = 0; u < vectors; ++u) {
            V r = load_lanes<V>(row + u * L);
            if constexpr (Updates > 0) r += s0 * x[0][u];
            if constexpr (Updates > 1) r += s1 * x[1][u];
            if constexpr (Updates > 0) store_lanes(row + u * L, r);
            if constexpr (Next > 0) acc0[u] += r * w[0];
            if constexpr (Next > 1) acc1[u] += r * w[1];
            if constexpr (Next > 2) acc2[u] += r * w[2];
            if constexpr (Next > 3) acc3[u] += r * w[3];
        }
    }
#pragma GCC unroll 16
    for (int u = 0; u < vectors; ++u) {
        if constexpr (Next > 0) acc[0][u] = acc0[u];
        if constexpr (Next > 1) acc[1][u] = acc1[u];
        if constexpr (Next > 2) acc[2][u] = acc2[u];
        if constexpr (Next > 3) acc[3][u] = acc3[u];
    }
}

// Σ over the vectors of a ⊙ b, summed over the lanes.
template <class Real>
STRUCTSEQ_ALWAYS_INLINE Real dot(const Vec<Real>* a, const Vec<Real>* b, int vectors) {
    Vec<Real> sum{};
    for (int u = 0; u < vectors; ++u) sum += a[u] * b[u];
    return lane_sum(sum);
}

// What one token of the recursion needs and leaves, `Vectors` wide: its rows q, k and the
// vectors p = P k, g = p / (1 + kᵀp) and e = v − Wᵀk, with P, W as they stand before the token.
template <class Real, int Vectors>
struct Token {
    Vec<Real> k[Vectors], q[Vectors], p[Vectors], g[Vectors], e[Vectors];
};

// The recursion over `count` tokens, two per pass over P and W: with P, W as they stand before
// tokens a and b = a + 1 (and their products from the pass before),
//   p_a = P k_a,   g_a = p_a / (1 + k_aᵀ p_a),   e_a = v_a − Wᵀk_a,
//   p_b = P k_b − g_a (p_aᵀ k_b),   e_b = v_b − Wᵀk_b − (g_aᵀ k_b) e_a   (P, W after token a),
//   P ← P − g_a p_aᵀ − g_b p_bᵀ,   W ← W + g_a e_aᵀ + g_b e_bᵀ,
// and the pass forms the next two tokens' products on the way; an odd last token takes a pass
// of its own. Vectors = ldp / lanes = ldw / lanes when known at compile time, else 0 (the
// arrays then hold kMaxVectors). Member functions, not lambdas: a lambda is a function of its
// own, compiled for the baseline CPU whatever the calling clone.
template <class Real, int Vectors>
class Recursion {
public:
    using V = Vec<Real>;
    static constexpr int L = kLanes<Real>;
    static constexpr int kV = Vectors > 0 ? Vectors : kMaxVectors;

    STRUCTSEQ_ALWAYS_INLINE Recursion(const ShermanMorrisonState<Real>& s, const Real* q,
                                      const Real* k, const Real* v, Real* out)
        : s_(s),
          q_(q),
          k_(k),
          v_(v),
          out_(out),
          pv_(Vectors > 0 ? Vectors : static_cast<int>(s.ldp / L)),
          wv_(Vectors > 0 ? Vectors : static_cast<int>(s.ldw / L)) {}

    STRUCTSEQ_ALWAYS_INLINE void run(Index count) {
        if (count >= 2) {
            pass<0, 2>(0);
        } else {
            pass<0, 1>(0);
        }
        Index t = 0;
        for (; t + 1 < count; t += 2) {
            load(a_, t);
            finish(a_, Pk_[0], Wkq_[0], Wkq_[1], t);
            // Token b's products after token a's update.
            load(b_, t + 1);
            const Real pk = dot<Real>(a_.p, b_.k, pv_), gk = dot<Real>(a_.g, b_.k, pv_),
                       gq = dot<Real>(a_.g, b_.q, pv_);
            V pk_b[kV] = {}, wk_b[kV] = {}, wq_b[kV] = {};
            for (int u = 0; u < pv_; ++u) pk_b[u] = Pk_[1][u] - pk * a_.g[u];
            for (int u = 0; u < wv_; ++u) {
                wk_b[u] = Wkq_[2][u] + gk * a_.e[u];
                wq_b[u] = Wkq_[3][u] + gq * a_.e[u];
            }
            finish(b_, pk_b, wk_b, wq_b, t + 1);
            const Index left = count - (t + 2);
            if (left >= 2) {
                pass<2, 2>(t);
            } else if (left == 1) {
                pass<2, 1>(t);
            } else {
                pass<2, 0>(t);
            }
        }
        if (t < count) {
            load(a_, t);
            finish(a_, Pk_[0], Wkq_[0], Wkq_[1], t);
            pass<1, 0>(t);
        }
    }

private:
    // The rows k and q of token t into x.
    STRUCTSEQ_ALWAYS_INLINE void load(Token<Real, kV>& x, Index t) {
        load_row(k_ + t * s_.d, s_.d, pv_, x.k);
        load_row(q_ + t * s_.d, s_.d, pv_, x.q);
    }

    // Token x at t (its k and q loaded): p, g, e and its output, from its products P k, Wᵀk, Wᵀq.
    STRUCTSEQ_ALWAYS_INLINE void finish(Token<Real, kV>& x, const V* pk, const V* wk, const V* wq,
                                        Index t) {
        for (int u = 0; u < pv_; ++u) x.p[u] = pk[u];
        const Real inv = Real(1) / (Real(1) + dot<Real>(x.p, x.k, pv_));
        for (int u = 0; u < pv_; ++u) x.g[u] = x.p[u] * inv;
        const Real gq = dot<Real>(x.g, x.q, pv_);
        load_row(v_ + t * s_.dv, s_.dv, wv_, x.e);
        V o[kV];
        for (int u = 0; u < wv_; ++u) {
            x.e[u] -= wk[u];
            o[u] = wq[u] + gq * x.e[u];
        }
        store_row(out_ + t * s_.dv, s_.dv, wv_, o);
    }

    // A pass over both matrices: the updates of `Tokens` (0–2) tokens from t0, then the
    // products of the `Ahead` (0–2) tokens after them.
    template <int Tokens, int Ahead>
    STRUCTSEQ_ALWAYS_INLINE void pass(Index t0) {
        const Index t = t0 + Tokens, d = s_.d;
        const auto row = [&](const Real* x, Index ahead) {
            return ahead < Ahead ? x + (t + ahead) * d : nullptr;
        };
        const Real* next_k[2] = {row(k_, 0), row(k_, 1)};
        const Real* next_kq[4] = {row(k_, 0), row(q_, 0), row(k_, 1), row(q_, 1)};
        const V* p[2] = {a_.p, b_.p};
        const V* e[2] = {a_.e, b_.e};
        const Real* scale[2] = {coefficient_[0], coefficient_[1]};
        set_coefficients<Tokens>(-1);
        update_rows<Real, kV, Tokens, Ahead>(s_.P, s_.ldp, d, pv_, scale, p, next_k, Pk_);
        set_coefficients<Tokens>(1);
        update_rows<Real, kV, Tokens, 2 * Ahead>(s_.W, s_.ldw, d, wv_, scale, e, next_kq, Wkq_);
    }

    // The rows' scales of the updates: sign · g of each token.
    template <int Tokens>
    STRUCTSEQ_ALWAYS_INLINE void set_coefficients(Real sign) {
        for (int j = 0; j < Tokens; ++j) {
            const V* g = j == 0 ? a_.g : b_.g;
            for (int u = 0; u < pv_; ++u) store_lanes(coefficient_[j] + u * L, sign * g[u]);
        }
    }

    const ShermanMorrisonState<Real>& s_;
    const Real *q_, *k_, *v_;
    Real* out_;
    const int pv_, wv_;
    alignas(64) Real coefficient_[2][kV * L];
    V Pk_[2][kV], Wkq_[4][kV];  // the next tokens' P k, and [Wᵀk, Wᵀq] of each
    Token<Real, kV> a_, b_;
};

template <class Real>
STRUCTSEQ_ALWAYS_INLINE void dispatch(const ShermanMorrisonState<Real>& s, const Real* q,
                                      const Real* k, const Real* v, Index count, Real* out) {
    constexpr int L = kLanes<Real>;
    const Index vectors = s.ldp / L;
    if (s.ldp == s.ldw && vectors == 1) {
        Recursion<Real, 1>(s, q, k, v, out).run(count);
    } else if (s.ldp == s.ldw && vectors == 2) {
        Recursion<Real, 2>(s, q, k, v, out).run(count);
    } else if (s.ldp == s.ldw && vectors == 4) {
        Recursion<Real, 4>(s, q, k, v, out).run(count);
    } else {
        Recursion<Real, 0>(s, q, k, v, out).run(count);
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
