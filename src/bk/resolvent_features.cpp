#include "structseq/bk/resolvent_features.h"

#include "structseq/core/error.h"
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
                               BkMode mode, std::complex<Real>* f) {
    return mode == BkMode::Bidirectional ? tridiagonal_resolvent_diagonal_rows(rows, z, f)
                                         : tridiagonal_leading_resolvent_rows(rows, z, f);
}

template <class Real>
void bk_features_backward(const TridiagonalRows<Real>& rows, std::complex<Real> z, BkMode mode,
                          const std::complex<Real>* f, const Real* grad_features, Real* grad_v,
                          std::complex<double>* grad_z) {
    using C = std::complex<Real>;
    const std::int64_t n = rows.n;
    double sum_re = 0, sum_im = 0;
#pragma omp parallel num_threads(num_threads()) if (rows.batch > 1 && rows.batch * n > 8192)
    {
        std::vector<C> d, dd, adjoint(static_cast<std::size_t>(n));
#pragma omp for schedule(static) reduction(+ : sum_re, sum_im)
        for (std::int64_t r = 0; r < rows.batch; ++r) {
            row_adjoint(rows, r, z, mode, f + r * n, grad_features + r * n * 2, adjoint.data(), d,
                        dd);
            Real* gv = grad_v + r * n;
            for (std::int64_t i = 0; i < n; ++i) {
                gv[i] = adjoint[i].real();
                sum_re += adjoint[i].real();
                sum_im += adjoint[i].imag();
            }
        }
    }
    *grad_z += -std::conj(std::complex<double>(sum_re, sum_im));
}

template PivotStats bk_features_forward<float>(const TridiagonalRows<float>&, std::complex<float>,
                                               BkMode, std::complex<float>*);
template PivotStats bk_features_forward<double>(const TridiagonalRows<double>&,
                                                std::complex<double>, BkMode,
                                                std::complex<double>*);
template void bk_features_backward<float>(const TridiagonalRows<float>&, std::complex<float>,
                                          BkMode, const std::complex<float>*, const float*, float*,
                                          std::complex<double>*);
template void bk_features_backward<double>(const TridiagonalRows<double>&, std::complex<double>,
                                           BkMode, const std::complex<double>*, const double*,
                                           double*, std::complex<double>*);

}  // namespace structseq
