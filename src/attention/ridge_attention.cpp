#include "structseq/attention/ridge_attention.h"

#include "attention_inputs.h"
#include "linalg/blas.h"
#include "linalg/small_matrix.h"
#include "sherman_morrison_steps.h"
#include "structseq/core/error.h"
#include "structseq/core/lane_vector.h"
#include "structseq/core/threads.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

namespace structseq {

namespace {

using Index = std::int64_t;
using blas::gemm_rows;

// Zeroes the strict upper triangle of a c × c row-major matrix.
template <class Real>
void keep_lower(Real* a, Index c) {
    for (Index r = 0; r < c; ++r) std::fill(a + r * c + r + 1, a + (r + 1) * c, Real(0));
}

// Zeroes the strict lower triangle of a c × c row-major matrix.
template <class Real>
void keep_upper(Real* a, Index c) {
    for (Index r = 0; r < c; ++r) std::fill(a + r * c, a + r * c + r, Real(0));
}

// The Cholesky factor U (A = Uᵀ U) of the SPD matrix a (n × n) in its upper triangle, in place
// (linalg_detail::cholesky_upper_in_place).
template <class Real>
void cholesky_upper(Real* a, Index n, std::string_view where) {
    const Index failed = linalg_detail::cholesky_upper_in_place(a, n, n);
    if (failed != 0) {
        fail("{}: a Gram matrix is not positive definite (order {} of {}); are q, k finite?", where,
             failed, n);
    }
}

// One head's float64 running sums M = λI + Σ k_i k_iᵀ (d × d) and b = Σ k_i v_iᵀ (d × d_v). A
// chunk's own sums (C terms) are formed in Real, then added in float64, so rounding does not pile
// up along the sequence. M is kept in its upper triangle only, all its factorization reads.
template <class Real>
struct RunningSums {
    Index d, dv;
    std::vector<double> M, b, Y;
    std::vector<Real> KtK, KtV;  // a chunk's Kᵀ K (upper triangle) and Kᵀ V
    RunningSums(Index d_, Index dv_, double lam)
        : d(d_),
          dv(dv_),
          M(static_cast<std::size_t>(d_ * d_)),
          b(static_cast<std::size_t>(d_ * dv_)),
          KtK(M.size()),
          KtV(b.size()) {
        for (Index i = 0; i < d; ++i) M[static_cast<std::size_t>(i * d + i)] = lam;
    }
    void add(const Real* k, const Real* v, Index c) {
        linalg_detail::transposed_product(k, c, d, d, k, d, d, KtK.data(), d, true);
        if (dv > 0) linalg_detail::transposed_product(k, c, d, d, v, dv, dv, KtV.data(), dv, false);
        for (Index r = 0; r < d; ++r) {
            for (Index j = r; j < d; ++j) M[r * d + j] += KtK[r * d + j];
            for (Index j = 0; j < dv; ++j) b[r * dv + j] += KtV[r * dv + j];
        }
    }
    // P = M⁻¹ in float64 from a fresh factorization M = Uᵀ U: with Y = U⁻ᵀ (lower triangular),
    // P = U⁻¹ U⁻ᵀ = Yᵀ Y.
    void inverse(std::vector<double>& P, std::string_view where) {
        P = M;
        cholesky_upper(P.data(), d, where);
        Y.assign(static_cast<std::size_t>(d * d), 0.0);
        for (Index i = 0; i < d; ++i) Y[static_cast<std::size_t>(i * d + i)] = 1;
        linalg_detail::solve_transposed_upper(P.data(), d, d, Y.data(), d, d);
        linalg_detail::transposed_product(Y.data(), d, d, d, Y.data(), d, d, P.data(), d, true);
        linalg_detail::mirror_upper(P.data(), d, d);
    }
};

// The chunked recursion's state at each chunk start, P = M⁻¹ kept in float64: after a chunk,
// either a fresh Cholesky factorization of M (every `refactor_every` tokens, and always without
// the chunk's Sherman–Morrison vectors) or the chunk's downdate P ← P − ZᵀZ. What a chunk reads,
// in Real: P, b₀ and X₀ = P b₀ (d × d, d × d_v, d × d_v).
template <class Real>
class ChunkRecursion {
public:
    ChunkRecursion(Index d, Index dv, double lam, Index refactor_every)
        : sums_(d, dv, lam),
          refactor_every_(refactor_every),
          P64_(static_cast<std::size_t>(d * d)),
          ZtZ_(P64_.size()) {
        for (Index i = 0; i < d; ++i) P64_[static_cast<std::size_t>(i * d + i)] = 1 / lam;
        publish();
    }
    const std::vector<Real>& P() const { return P_; }
    const std::vector<Real>& b0() const { return b0_; }
    // [P | X₀] (d × (d + d_v)), and X₀ inside it (row stride d + d_v).
    const std::vector<Real>& PX() const { return PX_; }
    const Real* X0() const { return PX_.data() + sums_.d; }

    // The next chunk start, after rows K (c × d), V (c × d_v) with vectors Z (c × d, row stride
    // ldz) or null.
    void advance(const Real* K, const Real* V, const Real* Z, Index ldz, Index c,
                 std::string_view where) {
        const Index d = sums_.d;
        sums_.add(K, V, c);
        since_ += c;
        if (Z == nullptr || since_ >= refactor_every_) {
            sums_.inverse(P64_, where);
            since_ = 0;
        } else {
            linalg_detail::transposed_product(Z, c, d, ldz, Z, d, ldz, ZtZ_.data(), d, true);
            for (Index r = 0; r < d; ++r) {
                for (Index j = r; j < d; ++j) P64_[r * d + j] -= ZtZ_[r * d + j];
            }
            linalg_detail::mirror_upper(P64_.data(), d, d);
        }
        publish();
    }

private:
    void publish() {
        const Index d = sums_.d, dv = sums_.dv, width = d + dv;
        P_.assign(P64_.begin(), P64_.end());
        b0_.assign(sums_.b.begin(), sums_.b.end());
        PX_.resize(static_cast<std::size_t>(d * width));
        for (Index r = 0; r < d; ++r) std::copy_n(P_.data() + r * d, d, PX_.data() + r * width);
        gemm_rows(false, false, d, dv, d, Real(1), P_.data(), d, b0_.data(), dv, Real(0),
                  PX_.data() + d, width);
    }

    RunningSums<Real> sums_;
    Index refactor_every_, since_ = 0;
    std::vector<double> P64_;
    std::vector<Real> ZtZ_, P_, PX_, b0_;
};

// One head's work buffers for the chunked forms, sized once per call.
template <class Real>
struct HeadScratch {
    std::vector<Real> L, S, T, A, B;  // c × c
    std::vector<Real> Z, W, C;        // c × d
    std::vector<Real> Kt, Zt, Qt;     // d × c
    std::vector<Real> R;              // c × (d + d_v)
    void size(Index c, Index d, Index dv) {
        const auto n = [](Index x) { return static_cast<std::size_t>(x); };
        for (auto* square : {&L, &S, &T, &A, &B}) square->resize(n(c * c));
        for (auto* rows : {&Z, &W, &C, &Kt, &Zt, &Qt}) rows->resize(n(c * d));
        R.resize(n(c * (d + dv)));
    }
};

// One chunk's rows K (c × d) against its start: I + K P Kᵀ = L Lᵀ (c × c; U = Lᵀ lands in the
// upper triangle of w.L; w.Kt and w.Zt are scratch) and R = L⁻¹ [K P | K X₀ − V] (c × (d + d_v)).
// R's first d columns are Z, the chunk's Sherman–Morrison vectors (M_t⁻¹ = P − Σ_{i≤t} z_i z_iᵀ);
// the others, when V is given, U: the chunk's residuals against the chunk-start regression. PX is
// [P | X₀] (d × (d + d_v)), or P alone without V.
template <class Real>
void factor_chunk(const Real* K, const Real* V, Index c, Index d, Index dv, const Real* PX, Real* R,
                  HeadScratch<Real>& w, std::string_view where) {
    Real* G = w.L.data();
    const Index width = d + (V != nullptr ? dv : 0);
    if (V != nullptr) {  // R = K [P | X₀] − [0 | V]
        for (Index r = 0; r < c; ++r) {
            std::fill_n(R + r * width, d, Real(0));
            std::copy_n(V + r * dv, dv, R + r * width + d);
        }
    }
    gemm_rows(false, false, c, width, d, Real(1), K, d, PX, width, Real(V != nullptr ? -1 : 0), R,
              width);
    // G's upper triangle (all the Cholesky reads) as (R_Zᵀ)ᵀ Kᵀ, R_Z = K P the first d columns.
    linalg_detail::transpose(K, c, d, d, w.Kt.data(), c);
    linalg_detail::transpose(R, c, d, width, w.Zt.data(), c);
    linalg_detail::transposed_product(w.Zt.data(), d, c, c, w.Kt.data(), c, c, G, c, true);
    for (Index i = 0; i < c; ++i) G[i * c + i] += Real(1);
    cholesky_upper(G, c, where);
    linalg_detail::solve_transposed_upper(G, c, c, R, width, width);
}

// Rows M_t⁻¹ x_t for rows x_t of X (c × d) inside a chunk: Y = X P − tril(X Zᵀ) Z.
template <class Real>
void solve_in_chunk(const Real* X, Index c, Index d, const Real* P, const Real* Z, Real* S,
                    Real* Y) {
    gemm_rows(false, true, c, c, d, Real(1), X, d, Z, d, Real(0), S, c);
    keep_lower(S, c);
    gemm_rows(false, false, c, d, d, Real(1), X, d, P, d, Real(0), Y, d);
    gemm_rows(false, false, c, d, c, Real(-1), S, c, Z, d, Real(1), Y, d);
}

using Dims = attention_detail::AttentionDims;
using attention_detail::QueryCount;

// ---- Forward -------------------------------------------------------------------------------

template <class Real>
void noncausal_head(const Dims& s, const Real* q, const Real* k, const Real* v, double lam,
                    Real* out) {
    ChunkRecursion<Real> all(s.d, s.dv, lam, 1);
    all.advance(k, v, nullptr, 0, s.n, "ridge_attention");
    gemm_rows(false, false, s.n_q, s.dv, s.d, Real(1), q, s.d, all.X0(), s.d + s.dv, Real(0), out,
              s.dv);
}

template <class Real>
void chunked_head(const Dims& s, const RidgeAttentionOptions& o, const Real* q, const Real* k,
                  const Real* v, double lam, Real* out) {
    constexpr std::string_view where = "ridge_attention";
    const Index chunk = o.chunk_size;
    ChunkRecursion<Real> start(s.d, s.dv, lam, o.refactor_every);
    HeadScratch<Real> w;
    w.size(chunk, s.d, s.dv);
    for (Index t0 = 0; t0 < s.n; t0 += chunk) {
        const Index c = std::min(chunk, s.n - t0);
        const Real *Q = q + t0 * s.d, *K = k + t0 * s.d, *V = v + t0 * s.dv;
        Real* O = out + t0 * s.dv;
        const Index width = s.d + s.dv;
        factor_chunk(K, V, c, s.d, s.dv, start.PX().data(), w.R.data(), w, where);
        const Real *Z = w.R.data(), *U = w.R.data() + s.d;
        // out = Q X₀ − tril(Q Zᵀ) U, with Sᵀ = triu(Z Qᵀ) from the transposes (d × c).
        linalg_detail::transpose(Z, c, s.d, width, w.Zt.data(), c);
        linalg_detail::transpose(Q, c, s.d, s.d, w.Qt.data(), c);
        linalg_detail::transposed_product(w.Zt.data(), s.d, c, c, w.Qt.data(), c, c, w.S.data(), c,
                                          true);
        keep_upper(w.S.data(), c);
        gemm_rows(false, false, c, s.dv, s.d, Real(1), Q, s.d, start.X0(), width, Real(0), O, s.dv);
        linalg_detail::subtract_transposed_upper_product(w.S.data(), c, c, U, s.dv, width, O, s.dv);
        start.advance(K, V, Z, width, c, where);
    }
}

// One head's causal recurrence in float64: P = M⁻¹ by rank-one downdates, refreshed from M
// every `refactor_every` tokens.
class SequentialHead {
public:
    SequentialHead(Index d, Index dv, double lam, Index refactor_every)
        : sums_(d, dv, lam), refactor_every_(refactor_every) {
        P_.assign(static_cast<std::size_t>(d * d), 0.0);
        for (Index i = 0; i < d; ++i) P_[static_cast<std::size_t>(i * d + i)] = 1.0 / lam;
        u_.resize(static_cast<std::size_t>(d));
        w_.resize(static_cast<std::size_t>(d));
    }

    template <class Real>
    void step(const Real* q, const Real* k, const Real* v, Real* out) {
        const Index d = sums_.d, dv = sums_.dv;
        double s = 1.0;
        for (Index r = 0; r < d; ++r) {
            double acc = 0;
            for (Index c = 0; c < d; ++c) acc += P_[r * d + c] * k[c];
            u_[r] = acc;
            s += k[r] * acc;
        }
        for (Index r = 0; r < d; ++r) {
            const double ur = u_[r] / s;
            for (Index c = 0; c < d; ++c) P_[r * d + c] -= ur * u_[c];
            for (Index c = r; c < d; ++c) sums_.M[r * d + c] += double(k[r]) * k[c];
            for (Index c = 0; c < dv; ++c) sums_.b[r * dv + c] += double(k[r]) * v[c];
        }
        if (++tokens_ % refactor_every_ == 0) sums_.inverse(P_, "ridge_attention");
        for (Index r = 0; r < d; ++r) {
            double acc = 0;
            for (Index c = 0; c < d; ++c) acc += P_[r * d + c] * q[c];
            w_[r] = acc;
        }
        for (Index c = 0; c < dv; ++c) {
            double acc = 0;
            for (Index r = 0; r < d; ++r) acc += w_[r] * sums_.b[r * dv + c];
            out[c] = static_cast<Real>(acc);
        }
    }

private:
    RunningSums<double> sums_;
    Index refactor_every_;
    std::vector<double> P_, u_, w_;
    Index tokens_ = 0;
};

// The causal recurrence in the input precision (sherman_morrison_steps.h: P = M⁻¹ and W = P b by
// rank-one updates), restarted every `refactor_every` tokens from the chunked form's fresh start
// (ChunkRecursion: P = M⁻¹ from a factorization of the float64 sums, W = X₀ = P b), so rounding
// does not accumulate along the sequence. Heads wider than the kernel takes run the float64
// recurrence of SequentialHead.
template <class Real>
void sequential_head(const Dims& s, Index refactor_every, const Real* q, const Real* k,
                     const Real* v, double lam, Real* out) {
    const Index width = attention_detail::sherman_morrison_max_width(sizeof(Real));
    if (s.d > width || s.dv > width) {
        SequentialHead head(s.d, s.dv, lam, refactor_every);
        for (Index t = 0; t < s.n; ++t) {
            head.step(q + t * s.d, k + t * s.d, v + t * s.dv, out + t * s.dv);
        }
        return;
    }
    // Both row widths alike, so that the kernel's fixed-width paths apply to d = d_v; the
    // padding columns stay zero.
    const Index ld = attention_detail::padded_width(std::max(s.d, s.dv), sizeof(Real));
    LaneArray<Real> P(static_cast<std::size_t>(s.d * ld)), W(P.size());
    const attention_detail::ShermanMorrisonState<Real> state{s.d, s.dv, ld, ld, P.data(), W.data()};
    ChunkRecursion<Real> start(s.d, s.dv, lam, refactor_every);
    for (Index t0 = 0; t0 < s.n; t0 += refactor_every) {
        for (Index r = 0; r < s.d; ++r) {
            std::copy_n(start.P().data() + r * s.d, s.d, P.data() + r * ld);
            std::copy_n(start.X0() + r * (s.d + s.dv), s.dv, W.data() + r * ld);
        }
        const Index count = std::min(refactor_every, s.n - t0);
        attention_detail::sherman_morrison_steps(state, q + t0 * s.d, k + t0 * s.d, v + t0 * s.dv,
                                                 count, out + t0 * s.dv);
        if (t0 + count < s.n) {
            start.advance(k + t0 * s.d, v + t0 * s.dv, nullptr, 0, count, "ridge_attention");
        }
    }
}

// ---- Backward ------------------------------------------------------------------------------

// Adds what the queries after these rows contribute through Sw = Σ w_t dout_tᵀ (d × d_v) and
// Swg = Σ w_t g_tᵀ (d × d): dv += K Sw, dk += V Swᵀ − K (Swg + Swgᵀ).
template <class Real>
void add_later_queries(const Dims& s, Index c, const Real* K, const Real* V,
                       const std::vector<double>& Sw, const std::vector<double>& Swg, Real* dk,
                       Real* dv) {
    std::vector<Real> sw(Sw.begin(), Sw.end()), swg(static_cast<std::size_t>(s.d * s.d));
    for (Index r = 0; r < s.d; ++r) {
        for (Index j = 0; j < s.d; ++j)
            swg[r * s.d + j] = Real(Swg[r * s.d + j] + Swg[j * s.d + r]);
    }
    gemm_rows(false, false, c, s.dv, s.d, Real(1), K, s.d, sw.data(), s.dv, Real(1), dv, s.dv);
    gemm_rows(false, true, c, s.d, s.dv, Real(1), V, s.dv, sw.data(), s.dv, Real(1), dk, s.d);
    gemm_rows(false, false, c, s.d, s.d, Real(-1), K, s.d, swg.data(), s.d, Real(1), dk, s.d);
}

// Sums += Wᵀ X (float64), W (c × d), X (c × m).
template <class Real>
void accumulate_transposed(Index c, Index d, Index m, const Real* W, const Real* X,
                           std::vector<double>& sums) {
    std::vector<Real> product(static_cast<std::size_t>(d * m));
    gemm_rows(true, false, d, m, c, Real(1), W, d, X, m, Real(0), product.data(), m);
    for (std::size_t i = 0; i < product.size(); ++i) sums[i] += product[i];
}

template <class Real>
double dot(const Real* a, const Real* b, Index n) {
    double acc = 0;
    for (Index i = 0; i < n; ++i) acc += double(a[i]) * b[i];
    return acc;
}

// Returns dλ.
template <class Real>
double noncausal_head_backward(const Dims& s, const Real* dout, const Real* q, const Real* k,
                               const Real* v, double lam, Real* dq, Real* dk, Real* dv) {
    ChunkRecursion<Real> all(s.d, s.dv, lam, 1);
    all.advance(k, v, nullptr, 0, s.n, "ridge_attention_backward");
    std::vector<Real> W(static_cast<std::size_t>(s.n_q * s.d));
    gemm_rows(false, false, s.n_q, s.d, s.d, Real(1), q, s.d, all.P().data(), s.d, Real(0),
              W.data(), s.d);
    // g_t = X dout_t, the rows of dout Xᵀ: dq.
    gemm_rows(false, true, s.n_q, s.d, s.dv, Real(1), dout, s.dv, all.X0(), s.d + s.dv, Real(0), dq,
              s.d);
    std::vector<double> Sw(static_cast<std::size_t>(s.d * s.dv)),
        Swg(static_cast<std::size_t>(s.d * s.d));
    accumulate_transposed(s.n_q, s.d, s.dv, W.data(), dout, Sw);
    accumulate_transposed(s.n_q, s.d, s.d, W.data(), dq, Swg);
    std::fill(dk, dk + s.n * s.d, Real(0));
    std::fill(dv, dv + s.n * s.dv, Real(0));
    add_later_queries(s, s.n, k, v, Sw, Swg, dk, dv);
    return -dot(W.data(), dq, s.n_q * s.d);
}

template <class Real>
double chunked_head_backward(const Dims& s, const RidgeAttentionOptions& o, const Real* dout,
                             const Real* q, const Real* k, const Real* v, double lam, Real* dq,
                             Real* dk, Real* dv) {
    constexpr std::string_view where = "ridge_attention_backward";
    const Index chunk = o.chunk_size, chunks = (s.n + chunk - 1) / chunk;
    const Real* no_values = nullptr;  // the chunk factors alone
    HeadScratch<Real> w;
    w.size(chunk, s.d, s.dv);
    // The chunk starts again, in the forward order (the same recursion, so the same values).
    struct ChunkStart {
        std::vector<Real> P, b0;
    };
    std::vector<ChunkStart> starts;
    {
        ChunkRecursion<Real> recursion(s.d, s.dv, lam, o.refactor_every);
        for (Index j = 0; j < chunks; ++j) {
            starts.push_back({recursion.P(), recursion.b0()});
            const Index t0 = j * chunk, c = std::min(chunk, s.n - t0);
            const Real* K = k + t0 * s.d;
            factor_chunk(K, no_values, c, s.d, 0, recursion.P().data(), w.Z.data(), w, where);
            recursion.advance(K, v + t0 * s.dv, w.Z.data(), s.d, c, where);
        }
    }
    std::vector<double> Sw(static_cast<std::size_t>(s.d * s.dv)),
        Swg(static_cast<std::size_t>(s.d * s.d));
    double dlam = 0;
    for (Index j = chunks; j-- > 0;) {
        const ChunkStart& start = starts[static_cast<std::size_t>(j)];
        const Index t0 = j * chunk, c = std::min(chunk, s.n - t0);
        const Real *Q = q + t0 * s.d, *K = k + t0 * s.d, *V = v + t0 * s.dv, *dO = dout + t0 * s.dv;
        Real *dQ = dq + t0 * s.d, *dK = dk + t0 * s.d, *dV = dv + t0 * s.dv;
        const Real* P = start.P.data();
        factor_chunk(K, no_values, c, s.d, 0, P, w.Z.data(), w, where);
        // W: rows w_t = M_t⁻¹ q_t.
        solve_in_chunk(Q, c, s.d, P, w.Z.data(), w.S.data(), w.W.data());
        // C: rows b_t dout_t = b₀ dout_t + Σ_{j≤t} k_j (v_j·dout_t); T = tril(dout Vᵀ).
        gemm_rows(false, true, c, c, s.dv, Real(1), dO, s.dv, V, s.dv, Real(0), w.T.data(), c);
        keep_lower(w.T.data(), c);
        gemm_rows(false, true, c, s.d, s.dv, Real(1), dO, s.dv, start.b0.data(), s.dv, Real(0),
                  w.C.data(), s.d);
        gemm_rows(false, false, c, s.d, c, Real(1), w.T.data(), c, K, s.d, Real(1), w.C.data(),
                  s.d);
        // Gr: rows g_t = M_t⁻¹ b_t dout_t, which are dq.
        solve_in_chunk(w.C.data(), c, s.d, P, w.Z.data(), w.S.data(), dQ);
        dlam -= dot(w.W.data(), dQ, c * s.d);
        // A = tril(W Kᵀ), B = T − tril(Gr Kᵀ).
        gemm_rows(false, true, c, c, s.d, Real(1), w.W.data(), s.d, K, s.d, Real(0), w.A.data(), c);
        keep_lower(w.A.data(), c);
        std::copy_n(w.T.data(), c * c, w.B.data());
        gemm_rows(false, true, c, c, s.d, Real(-1), dQ, s.d, K, s.d, Real(1), w.B.data(), c);
        keep_lower(w.B.data(), c);
        // Within the chunk: dv = Aᵀ dout, dk = Bᵀ W − Aᵀ Gr; then the later chunks' sums.
        gemm_rows(true, false, c, s.dv, c, Real(1), w.A.data(), c, dO, s.dv, Real(0), dV, s.dv);
        gemm_rows(true, false, c, s.d, c, Real(1), w.B.data(), c, w.W.data(), s.d, Real(0), dK,
                  s.d);
        gemm_rows(true, false, c, s.d, c, Real(-1), w.A.data(), c, dQ, s.d, Real(1), dK, s.d);
        add_later_queries(s, c, K, V, Sw, Swg, dK, dV);
        accumulate_transposed(c, s.d, s.dv, w.W.data(), dO, Sw);
        accumulate_transposed(c, s.d, s.d, w.W.data(), dQ, Swg);
    }
    return dlam;
}

// ---- Weights -------------------------------------------------------------------------------

template <class Real>
void weights_head(const Dims& s, bool causal, Index chunk, const Real* q, const Real* k, double lam,
                  Real* alpha) {
    constexpr std::string_view where = "ridge_attention_weights";
    const Real* no_values = nullptr;  // the weights need M only
    if (!causal) {
        ChunkRecursion<Real> all(s.d, 0, lam, 1);
        all.advance(k, no_values, nullptr, 0, s.n, where);
        std::vector<Real> W(static_cast<std::size_t>(s.n_q * s.d));
        gemm_rows(false, false, s.n_q, s.d, s.d, Real(1), q, s.d, all.P().data(), s.d, Real(0),
                  W.data(), s.d);
        gemm_rows(false, true, s.n_q, s.n, s.d, Real(1), W.data(), s.d, k, s.d, Real(0), alpha,
                  s.n);
        return;
    }
    ChunkRecursion<Real> start(s.d, 0, lam, RidgeAttentionOptions{}.refactor_every);
    HeadScratch<Real> w;
    w.size(chunk, s.d, 0);
    for (Index t0 = 0; t0 < s.n; t0 += chunk) {
        const Index c = std::min(chunk, s.n - t0);
        const Real *Q = q + t0 * s.d, *K = k + t0 * s.d;
        factor_chunk(K, no_values, c, s.d, 0, start.P().data(), w.Z.data(), w, where);
        solve_in_chunk(Q, c, s.d, start.P().data(), w.Z.data(), w.S.data(), w.W.data());
        Real* rows = alpha + t0 * s.n;
        gemm_rows(false, true, c, t0 + c, s.d, Real(1), w.W.data(), s.d, k, s.d, Real(0), rows,
                  s.n);
        for (Index r = 0; r < c; ++r) {
            std::fill(rows + r * s.n + t0 + r + 1, rows + (r + 1) * s.n, Real(0));
        }
        start.advance(K, no_values, w.Z.data(), s.d, c, where);
    }
}

// ---- Argument checks -----------------------------------------------------------------------

std::vector<double> lambda_per_head(std::string_view where, const std::vector<double>& lam,
                                    Index heads) {
    check_argument(lam.size() == 1 || static_cast<Index>(lam.size()) == heads, where, "lam",
                   fmt::format("{} values", lam.size()),
                   fmt::format("one, or one per head ({})", heads));
    for (double value : lam) {
        check_argument(std::isfinite(value) && value > 0, where, "lam", fmt::format("{}", value),
                       "finite and > 0");
    }
    return lam.size() == 1 ? std::vector<double>(static_cast<std::size_t>(heads), lam[0]) : lam;
}

void check_options(std::string_view where, const RidgeAttentionOptions& o) {
    check_argument(o.chunk_size >= 1, where, "chunk_size", std::to_string(o.chunk_size), ">= 1");
    check_argument(o.refactor_every >= 1, where, "refactor_every", std::to_string(o.refactor_every),
                   ">= 1");
}

// Runs body(head index, λ) for every (batch, head), in parallel.
template <class Body>
void for_each_head(const Dims& s, const std::vector<double>& lam, Body&& body) {
#pragma omp parallel for num_threads(num_threads()) schedule(dynamic)
    for (Index bh = 0; bh < s.heads_total(); ++bh) {
        body(bh, lam[static_cast<std::size_t>(bh % s.heads)]);
    }
}

}  // namespace

Tensor ridge_attention(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in,
                       const std::vector<double>& lam_in, const RidgeAttentionOptions& options) {
    constexpr std::string_view where = "ridge_attention";
    check_options(where, options);
    const Dims s = attention_detail::check_attention_inputs(
        where, q_in, k_in, &v_in, options.causal ? QueryCount::EqualsKeys : QueryCount::Any);
    const std::vector<double> lam = lambda_per_head(where, lam_in, s.heads);
    const Tensor q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
    Tensor out = Tensor::empty({s.batch, s.heads, s.n_q, s.dv}, q.dtype());
    const auto run = [&]<class Real>(Real) {
        for_each_head(s, lam, [&](Index bh, double l) {
            const Real* Q = q.data<Real>() + bh * s.n_q * s.d;
            const Real* K = k.data<Real>() + bh * s.n * s.d;
            const Real* V = v.data<Real>() + bh * s.n * s.dv;
            Real* O = out.data<Real>() + bh * s.n_q * s.dv;
            if (!options.causal) {
                noncausal_head(s, Q, K, V, l, O);
            } else if (options.method == RidgeMethod::Chunked) {
                chunked_head(s, options, Q, K, V, l, O);
            } else {
                sequential_head(s, options.refactor_every, Q, K, V, l, O);
            }
        });
    };
    q.dtype() == DType::F32 ? run(0.0f) : run(0.0);
    return out;
}

RidgeAttentionGrads ridge_attention_backward(const Tensor& dout_in, const Tensor& q_in,
                                             const Tensor& k_in, const Tensor& v_in,
                                             const std::vector<double>& lam_in,
                                             const RidgeAttentionOptions& options) {
    constexpr std::string_view where = "ridge_attention_backward";
    check_options(where, options);
    const Dims s = attention_detail::check_attention_inputs(
        where, q_in, k_in, &v_in, options.causal ? QueryCount::EqualsKeys : QueryCount::Any);
    const std::vector<double> lam = lambda_per_head(where, lam_in, s.heads);
    check_shape(where, "dout", dout_in, {s.batch, s.heads, s.n_q, s.dv});
    const Tensor q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
    const Tensor dout = dout_in.to(q.dtype()).contiguous();
    RidgeAttentionGrads g{Tensor::empty(q.shape(), q.dtype()),
                          Tensor::empty(k.shape(), q.dtype()),
                          Tensor::empty(v.shape(), q.dtype()),
                          {}};
    std::vector<double> dlam(static_cast<std::size_t>(s.heads_total()));
    const auto run = [&]<class Real>(Real) {
        for_each_head(s, lam, [&](Index bh, double l) {
            const Real* dO = dout.data<Real>() + bh * s.n_q * s.dv;
            const Real* Q = q.data<Real>() + bh * s.n_q * s.d;
            const Real* K = k.data<Real>() + bh * s.n * s.d;
            const Real* V = v.data<Real>() + bh * s.n * s.dv;
            Real* dQ = g.dq.data<Real>() + bh * s.n_q * s.d;
            Real* dK = g.dk.data<Real>() + bh * s.n * s.d;
            Real* dV = g.dv.data<Real>() + bh * s.n * s.dv;
            dlam[static_cast<std::size_t>(bh)] =
                options.causal ? chunked_head_backward(s, options, dO, Q, K, V, l, dQ, dK, dV)
                               : noncausal_head_backward(s, dO, Q, K, V, l, dQ, dK, dV);
        });
    };
    q.dtype() == DType::F32 ? run(0.0f) : run(0.0);
    g.dlam.assign(lam_in.size(), 0.0);
    for (Index bh = 0; bh < s.heads_total(); ++bh) {
        g.dlam[lam_in.size() == 1 ? 0 : static_cast<std::size_t>(bh % s.heads)] +=
            dlam[static_cast<std::size_t>(bh)];
    }
    return g;
}

Tensor ridge_attention_weights(const Tensor& q_in, const Tensor& k_in,
                               const std::vector<double>& lam_in, bool causal,
                               std::int64_t chunk_size) {
    constexpr std::string_view where = "ridge_attention_weights";
    check_argument(chunk_size >= 1, where, "chunk_size", std::to_string(chunk_size), ">= 1");
    const Dims s = attention_detail::check_attention_inputs(
        where, q_in, k_in, nullptr, causal ? QueryCount::EqualsKeys : QueryCount::Any);
    const std::vector<double> lam = lambda_per_head(where, lam_in, s.heads);
    const Tensor q = q_in.contiguous(), k = k_in.contiguous();
    Tensor alpha = Tensor::empty({s.batch, s.heads, s.n_q, s.n}, q.dtype());
    const auto run = [&]<class Real>(Real) {
        for_each_head(s, lam, [&](Index bh, double l) {
            weights_head(s, causal, chunk_size, q.data<Real>() + bh * s.n_q * s.d,
                         k.data<Real>() + bh * s.n * s.d, l, alpha.data<Real>() + bh * s.n_q * s.n);
        });
    };
    q.dtype() == DType::F32 ? run(0.0f) : run(0.0);
    return alpha;
}

struct RidgeAttentionState::Heads {
    std::vector<SequentialHead> heads;
};

RidgeAttentionState::RidgeAttentionState(std::int64_t heads, std::int64_t d, std::int64_t d_v,
                                         const std::vector<double>& lam_in,
                                         std::int64_t refactor_every)
    : heads_(std::make_unique<Heads>()), d_(d), d_v_(d_v) {
    constexpr std::string_view where = "RidgeAttentionState";
    check_argument(heads >= 1 && d >= 1 && d_v >= 1, where, "heads, d, d_v",
                   fmt::format("{}, {}, {}", heads, d, d_v), ">= 1 each");
    check_argument(refactor_every >= 1, where, "refactor_every", std::to_string(refactor_every),
                   ">= 1");
    for (double l : lambda_per_head(where, lam_in, heads)) {
        heads_->heads.emplace_back(d, d_v, l, refactor_every);
    }
}

RidgeAttentionState::RidgeAttentionState(const RidgeAttentionState& other)
    : heads_(std::make_unique<Heads>(*other.heads_)),
      d_(other.d_),
      d_v_(other.d_v_),
      tokens_(other.tokens_) {}

RidgeAttentionState& RidgeAttentionState::operator=(const RidgeAttentionState& other) {
    if (this != &other) *this = RidgeAttentionState(other);
    return *this;
}

RidgeAttentionState::RidgeAttentionState(RidgeAttentionState&&) noexcept = default;
RidgeAttentionState& RidgeAttentionState::operator=(RidgeAttentionState&&) noexcept = default;
RidgeAttentionState::~RidgeAttentionState() = default;

Tensor RidgeAttentionState::step(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in) {
    constexpr std::string_view where = "RidgeAttentionState.step";
    const Index heads = static_cast<Index>(heads_->heads.size());
    check_argument(q_in.dtype() == DType::F32 || q_in.dtype() == DType::F64, where, "q dtype",
                   std::string(dtype_name(q_in.dtype())), "float32 or float64");
    check_shape(where, "q", q_in, {heads, d_});
    check_shape(where, "k", k_in, {heads, d_});
    check_shape(where, "v", v_in, {heads, d_v_});
    const Tensor q = q_in.contiguous(), k = k_in.to(q.dtype()).contiguous(),
                 v = v_in.to(q.dtype()).contiguous();
    Tensor out = Tensor::empty({heads, d_v_}, q.dtype());
    const auto run = [&]<class Real>(Real) {
        for (Index h = 0; h < heads; ++h) {
            heads_->heads[static_cast<std::size_t>(h)].step(
                q.data<Real>() + h * d_, k.data<Real>() + h * d_, v.data<Real>() + h * d_v_,
                out.data<Real>() + h * d_v_);
        }
    };
    q.dtype() == DType::F32 ? run(0.0f) : run(0.0);
    ++tokens_;
    return out;
}

}  // namespace structseq
