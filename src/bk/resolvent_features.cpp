#include "structseq/bk/resolvent_features.h"

#include "structseq/core/cpu_dispatch.h"
#include "structseq/core/error.h"
#include "structseq/core/lane_vector.h"
#include "structseq/core/threads.h"

#include <cmath>
#include <limits>
#include <vector>

namespace structseq {

namespace {

// Holomorphic adjoints A_j = ∂L/∂α_j of one row (see the header), written into `adjoint`.
// d, dd: scratch of N values.
template <class Real>
void row_adjoint(const TridiagonalRows<Real>& rows, std::int64_t r, std::complex<Real> z,
                 BkMode mode, const std::complex<Real>* f, const Real* grad_features,
                 std::complex<Real>* adjoint, std::vector<std::complex<Real>>& d,
                 std::vector<std::complex<Real>>& dd) {
    using C = std::complex<Real>;
    const std::int64_t n = rows.n;
    const Real* a = rows.main_row(r);
    const Real* b = rows.super_row(r);
    const Real* c = rows.sub_row(r);
    const auto gamma_bar = [&](std::int64_t i) {
        return C(grad_features[2 * i], -grad_features[2 * i + 1]);
    };
    d.resize(static_cast<std::size_t>(n));
    dd.resize(static_cast<std::size_t>(n));
    if (mode == BkMode::Causal) {
        for (std::int64_t i = 0; i < n; ++i) {
            d[i] = C(a[i]) - z;
            if (i > 0) d[i] -= (b[i - 1] * c[i - 1]) / d[i - 1];
        }
        C lambda = 0;
        for (std::int64_t i = n - 1; i >= 0; --i) {
            const C inv2 = Real(1) / (d[i] * d[i]);
            const C carried = i + 1 < n ? lambda * (b[i] * c[i]) : C(0);
            lambda = (carried - gamma_bar(i)) * inv2;
            adjoint[i] = lambda;
        }
        return;
    }
    // Bidirectional: A = -diag(G Γ̄ G).
    std::vector<C>& weights = dd;
    for (std::int64_t i = 0; i < n; ++i) weights[i] = gamma_bar(i);
    resolvent_sandwich_diagonal(a, b, c, n, z, f, weights.data(), adjoint, d);
    for (std::int64_t i = 0; i < n; ++i) adjoint[i] = -adjoint[i];
}

}  // namespace

template <class Real>
void resolvent_sandwich_diagonal(const Real* a, const Real* b, const Real* c, std::int64_t n,
                                 std::complex<Real> z, const std::complex<Real>* g,
                                 const std::complex<Real>* w, std::complex<Real>* out,
                                 std::vector<std::complex<Real>>& scratch) {
    using C = std::complex<Real>;
    // Forward-mode derivative of the pivot recursions along δα = -w, then
    // out_i = δG_ii = -G_ii² (δd_i + δe_i - δα_i). scratch holds (d_i, δd_i) pairs.
    scratch.resize(static_cast<std::size_t>(2 * n));
    C* d = scratch.data();
    C* dd = d + n;
    for (std::int64_t i = 0; i < n; ++i) {
        d[i] = C(a[i]) - z;
        dd[i] = -w[i];
        if (i > 0) {
            const C t = (b[i - 1] * c[i - 1]) / d[i - 1];
            d[i] -= t;
            dd[i] += t / d[i - 1] * dd[i - 1];
        }
    }
    C e = C(a[n - 1]) - z;
    C de = -w[n - 1];
    for (std::int64_t i = n - 1; i >= 0; --i) {
        out[i] = -g[i] * g[i] * (dd[i] + de + w[i]);
        if (i > 0) {
            const C t = (b[i - 1] * c[i - 1]) / e;
            const C de_next = -w[i - 1] + t / e * de;
            e = C(a[i - 1]) - z - t;
            de = de_next;
        }
    }
}

template void resolvent_sandwich_diagonal<float>(const float*, const float*, const float*,
                                                 std::int64_t, std::complex<float>,
                                                 const std::complex<float>*,
                                                 const std::complex<float>*, std::complex<float>*,
                                                 std::vector<std::complex<float>>&);
template void resolvent_sandwich_diagonal<double>(const double*, const double*, const double*,
                                                  std::int64_t, std::complex<double>,
                                                  const std::complex<double>*,
                                                  const std::complex<double>*,
                                                  std::complex<double>*,
                                                  std::vector<std::complex<double>>&);

template <class Real>
PivotStats bk_features_forward(const TridiagonalRows<Real>& rows, std::complex<Real> z,
                               BkMode mode, std::complex<Real>* f, const Real* main_shift) {
    return mode == BkMode::Bidirectional
               ? tridiagonal_resolvent_diagonal_rows(rows, z, f, main_shift)
               : tridiagonal_leading_resolvent_rows(rows, z, f, main_shift);
}

namespace {

// The adjoints of Lanes rows at once (lane-minor scratch, as the forward kernel), for rows that
// share b and c (one H₀): bc (n - 1) shared; a, grad_features and f gathered per lane. Writes
// Re A into grad_v rows and the per-lane sums of A into sum_re/sum_im (lanes < count only).
template <class Real, int Lanes>
struct AdjointBlock {
    const Real* a[Lanes];
    const Real* grad[Lanes];           // (n, 2) per row
    const std::complex<Real>* f[Lanes];  // bidirectional only
    Real* grad_v[Lanes];
    int count;
};

template <class Real, int Lanes, bool Causal>
STRUCTSEQ_ALWAYS_INLINE void adjoint_lanes(const AdjointBlock<Real, Lanes>& block, std::int64_t n,
                                           const Real* bc, Real zr, Real zi, Real* scratch,
                                           double* sum_re, double* sum_im) {
    using V = LaneVector<Real, Lanes>;
    const std::int64_t stride = n * Lanes;
    Real* A = scratch;
    Real* gr = A + stride;
    Real* gi = gr + stride;
    Real* dr_s = gi + stride;
    Real* di_s = dr_s + stride;
    Real* ddr_s = di_s + stride;  // bidirectional: δd, then f
    Real* ddi_s = ddr_s + stride;
    Real* fr = ddi_s + stride;
    Real* fi = fr + stride;
    constexpr std::int64_t kTile = 16;
    for (std::int64_t i0 = 0; i0 < n; i0 += kTile) {
        const std::int64_t i1 = std::min(n, i0 + kTile);
        for (int l = 0; l < Lanes; ++l) {
            for (std::int64_t i = i0; i < i1; ++i) {
                A[i * Lanes + l] = block.a[l][i];
                gr[i * Lanes + l] = block.grad[l][2 * i];
                gi[i * Lanes + l] = block.grad[l][2 * i + 1];
                if constexpr (!Causal) {
                    fr[i * Lanes + l] = block.f[l][i].real();
                    fi[i * Lanes + l] = block.f[l][i].imag();
                }
            }
        }
    }
    const V zrv = V{} + zr, ziv = V{} + zi;
    const auto at = [&](const Real* base, std::int64_t i) { return load_lanes<V>(base + i * Lanes); };
    // Forward sweep: d (and δd along δα = -conj γ for the bidirectional sandwich).
    V dr = at(A, 0) - zrv, di = -ziv;
    V ddr = -at(gr, 0), ddi = at(gi, 0);
    store_lanes(dr_s, dr);
    store_lanes(di_s, di);
    if constexpr (!Causal) {
        store_lanes(ddr_s, ddr);
        store_lanes(ddi_s, ddi);
    }
    for (std::int64_t i = 1; i < n; ++i) {
        const V inv = 1 / (dr * dr + di * di);
        const V wr = dr * inv, wi = -di * inv;  // 1/d_{i-1}
        const V b = V{} + bc[i - 1];
        const V tr = b * wr, ti = b * wi;  // b c / d_{i-1}
        if constexpr (!Causal) {
            const V qr = tr * wr - ti * wi, qi = tr * wi + ti * wr;  // b c / d_{i-1}²
            const V nr = qr * ddr - qi * ddi - at(gr, i);
            const V ni = qr * ddi + qi * ddr + at(gi, i);
            ddr = nr;
            ddi = ni;
            store_lanes(ddr_s + i * Lanes, ddr);
            store_lanes(ddi_s + i * Lanes, ddi);
        }
        dr = at(A, i) - zrv - tr;
        di = -ziv - ti;
        store_lanes(dr_s + i * Lanes, dr);
        store_lanes(di_s + i * Lanes, di);
    }
    V sr = V{}, si = V{};
    if constexpr (Causal) {
        // λ_i = (λ_{i+1} b_i c_i - conj γ_i) / d_i², A_i = λ_i.
        V lr = V{}, li = V{};
        for (std::int64_t i = n - 1; i >= 0; --i) {
            const V d_r = at(dr_s, i), d_i = at(di_s, i);
            const V inv = 1 / (d_r * d_r + d_i * d_i);
            const V wr = d_r * inv, wi = -d_i * inv;
            const V w2r = wr * wr - wi * wi, w2i = 2 * wr * wi;
            const V b = V{} + (i + 1 < n ? bc[i] : Real(0));
            const V nr = lr * b - at(gr, i), ni = li * b + at(gi, i);
            lr = nr * w2r - ni * w2i;
            li = nr * w2i + ni * w2r;
            store_lanes(A + i * Lanes, lr);
            sr += lr;
            si += li;
        }
    } else {
        // A_i = G_i² (δd_i + δe_i + conj γ_i); δe runs from the end like e.
        V er = at(A, n - 1) - zrv, ei = -ziv;
        V der = -at(gr, n - 1), dei = at(gi, n - 1);
        for (std::int64_t i = n - 1; i >= 0; --i) {
            const V g_r = at(fr, i), g_i = at(fi, i);
            const V xr = at(ddr_s, i) + der + at(gr, i);
            const V xi = at(ddi_s, i) + dei - at(gi, i);
            const V g2r = g_r * g_r - g_i * g_i, g2i = 2 * g_r * g_i;
            const V ar = g2r * xr - g2i * xi, ai = g2r * xi + g2i * xr;
            if (i > 0) {
                const V inv = 1 / (er * er + ei * ei);
                const V wr = er * inv, wi = -ei * inv;  // 1/e_i
                const V b = V{} + bc[i - 1];
                const V tr = b * wr, ti = b * wi;
                const V qr = tr * wr - ti * wi, qi = tr * wi + ti * wr;
                const V nr = qr * der - qi * dei - at(gr, i - 1);
                const V ni = qr * dei + qi * der + at(gi, i - 1);
                der = nr;
                dei = ni;
                er = at(A, i - 1) - zrv - tr;
                ei = -ziv - ti;
            }
            store_lanes(A + i * Lanes, ar);
            sr += ar;
            si += ai;
        }
    }
    for (int l = 0; l < block.count; ++l) {
        *sum_re += sr[l];
        *sum_im += si[l];
    }
    for (std::int64_t i0 = 0; i0 < n; i0 += kTile) {
        const std::int64_t i1 = std::min(n, i0 + kTile);
        for (int l = 0; l < block.count; ++l) {
            for (std::int64_t i = i0; i < i1; ++i) block.grad_v[l][i] = A[i * Lanes + l];
        }
    }
}

constexpr int kAdjointScratchArrays = 9;

STRUCTSEQ_CPU_CLONES
void adjoint_lanes_clone(const AdjointBlock<double, 16>& block, std::int64_t n, const double* bc,
                         double zr, double zi, bool causal, double* scratch, double* sum_re,
                         double* sum_im) {
    causal ? adjoint_lanes<double, 16, true>(block, n, bc, zr, zi, scratch, sum_re, sum_im)
           : adjoint_lanes<double, 16, false>(block, n, bc, zr, zi, scratch, sum_re, sum_im);
}

STRUCTSEQ_CPU_CLONES
void adjoint_lanes_clone(const AdjointBlock<double, 8>& block, std::int64_t n, const double* bc,
                         double zr, double zi, bool causal, double* scratch, double* sum_re,
                         double* sum_im) {
    causal ? adjoint_lanes<double, 8, true>(block, n, bc, zr, zi, scratch, sum_re, sum_im)
           : adjoint_lanes<double, 8, false>(block, n, bc, zr, zi, scratch, sum_re, sum_im);
}

STRUCTSEQ_CPU_CLONES
void adjoint_lanes_clone(const AdjointBlock<float, 16>& block, std::int64_t n, const float* bc,
                         float zr, float zi, bool causal, float* scratch, double* sum_re,
                         double* sum_im) {
    causal ? adjoint_lanes<float, 16, true>(block, n, bc, zr, zi, scratch, sum_re, sum_im)
           : adjoint_lanes<float, 16, false>(block, n, bc, zr, zi, scratch, sum_re, sum_im);
}

STRUCTSEQ_CPU_CLONES
void adjoint_lanes_clone(const AdjointBlock<float, 32>& block, std::int64_t n, const float* bc,
                         float zr, float zi, bool causal, float* scratch, double* sum_re,
                         double* sum_im) {
    causal ? adjoint_lanes<float, 32, true>(block, n, bc, zr, zi, scratch, sum_re, sum_im)
           : adjoint_lanes<float, 32, false>(block, n, bc, zr, zi, scratch, sum_re, sum_im);
}

// Blocks of Lanes rows (Lanes = 1: one row at a time through row_adjoint).
template <class Real, int Lanes>
void adjoint_rows(const TridiagonalRows<Real>& rows, std::complex<Real> z, BkMode mode,
                  const std::complex<Real>* f, const Real* grad_features, Real* grad_v,
                  double* sum_re_out, double* sum_im_out) {
    using C = std::complex<Real>;
    const std::int64_t n = rows.n;
    std::vector<Real> bc;
    if constexpr (Lanes > 1) {
        bc.resize(static_cast<std::size_t>(std::max<std::int64_t>(n - 1, 0)));
        for (std::int64_t i = 0; i + 1 < n; ++i) bc[i] = rows.super[i] * rows.sub[i];
    }
    const std::int64_t units = (rows.batch + Lanes - 1) / Lanes;
    double sum_re = 0, sum_im = 0;
#pragma omp parallel num_threads(num_threads()) if (units > 1 && rows.batch * n > 8192)
    {
        std::vector<C> d, dd, adjoint;
        thread_local std::vector<Real> scratch;
#pragma omp for schedule(static) reduction(+ : sum_re, sum_im)
        for (std::int64_t u = 0; u < units; ++u) {
            if constexpr (Lanes > 1) {
                const auto needed = static_cast<std::size_t>(kAdjointScratchArrays * n * Lanes);
                if (scratch.size() < needed) scratch.resize(needed);
                AdjointBlock<Real, Lanes> block;
                const std::int64_t first = u * Lanes;
                block.count = static_cast<int>(std::min<std::int64_t>(Lanes, rows.batch - first));
                for (int l = 0; l < Lanes; ++l) {
                    const std::int64_t r = first + std::min(l, block.count - 1);
                    block.a[l] = rows.main_row(r);
                    block.grad[l] = grad_features + r * n * 2;
                    block.f[l] = f + r * n;
                    block.grad_v[l] = grad_v + r * n;
                }
                adjoint_lanes_clone(block, n, bc.data(), z.real(), z.imag(),
                                    mode == BkMode::Causal, scratch.data(), &sum_re, &sum_im);
            } else {
                adjoint.resize(static_cast<std::size_t>(n));
                row_adjoint(rows, u, z, mode, f + u * n, grad_features + u * n * 2,
                            adjoint.data(), d, dd);
                Real* gv = grad_v + u * n;
                for (std::int64_t i = 0; i < n; ++i) {
                    gv[i] = adjoint[i].real();
                    sum_re += adjoint[i].real();
                    sum_im += adjoint[i].imag();
                }
            }
        }
    }
    *sum_re_out = sum_re;
    *sum_im_out = sum_im;
}

}  // namespace

template <class Real>
void bk_features_backward(const TridiagonalRows<Real>& rows, std::complex<Real> z, BkMode mode,
                          const std::complex<Real>* f, const Real* grad_features, Real* grad_v,
                          std::complex<double>* grad_z) {
    // Lane blocks when the rows share b and c and the scratch stays under 64 MiB per thread:
    // 16 doubles / 32 floats for large batches, half that for 8–15 / 16–31 rows.
    constexpr int wide = std::is_same_v<Real, double> ? 16 : 32;
    constexpr std::int64_t kMaxScratchBytes = std::int64_t{64} << 20;
    const auto fits = [&](int lanes) {
        return rows.super_stride == 0 && rows.sub_stride == 0 &&
               kAdjointScratchArrays * rows.n * lanes * std::int64_t{sizeof(Real)} <=
                   kMaxScratchBytes;
    };
    double sum_re = 0, sum_im = 0;
    if (rows.batch >= wide && fits(wide)) {
        adjoint_rows<Real, wide>(rows, z, mode, f, grad_features, grad_v, &sum_re, &sum_im);
    } else if (rows.batch >= wide / 2 && fits(wide / 2)) {
        adjoint_rows<Real, wide / 2>(rows, z, mode, f, grad_features, grad_v, &sum_re, &sum_im);
    } else {
        adjoint_rows<Real, 1>(rows, z, mode, f, grad_features, grad_v, &sum_re, &sum_im);
    }
    *grad_z += -std::conj(std::complex<double>(sum_re, sum_im));
}

template PivotStats bk_features_forward<float>(const TridiagonalRows<float>&, std::complex<float>,
                                               BkMode, std::complex<float>*, const float*);
template PivotStats bk_features_forward<double>(const TridiagonalRows<double>&,
                                                std::complex<double>, BkMode,
                                                std::complex<double>*, const double*);
template void bk_features_backward<float>(const TridiagonalRows<float>&, std::complex<float>,
                                          BkMode, const std::complex<float>*, const float*, float*,
                                          std::complex<double>*);
template void bk_features_backward<double>(const TridiagonalRows<double>&, std::complex<double>,
                                           BkMode, const std::complex<double>*, const double*,
                                           double*, std::complex<double>*);

}  // namespace structseq
