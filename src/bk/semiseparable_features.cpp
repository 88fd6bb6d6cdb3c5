#include "structseq/bk/semiseparable_features.h"

#include "structseq/bk/resolvent_features.h"
#include "structseq/core/error.h"
#include "structseq/core/threads.h"

#include <Eigen/Dense>

#include <exception>
#include <limits>
#include <vector>

namespace structseq {

namespace {

constexpr std::string_view kWhere = "BirmanSchwingerCore (semiseparable)";

// The Woodbury pieces of one row (see the header), column-major.
template <class Real>
struct RowWoodbury {
    using C = std::complex<Real>;
    using Matrix = Eigen::Matrix<C, Eigen::Dynamic, Eigen::Dynamic>;
    using RealMatrix = Eigen::Matrix<Real, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

    TridiagonalLU<C> lu, lu_t;  // T_z and T_zᵀ
    std::vector<C> g;           // diag(T_z⁻¹)
    Matrix W, Yh, M;            // T_z⁻¹U (n × r), T_z⁻ᵀV (n × r), C⁻¹Ŷᵀ (r × n)

    // The parameters as complex (n × r), converted once per call and shared by the rows.
    static Matrix as_complex(const Real* p, std::int64_t n, std::int64_t r) {
        return Eigen::Map<const RealMatrix>(p, n, r).template cast<C>();
    }

    void build(const TridiagonalRows<Real>& rows, std::int64_t row, const Matrix& U,
               const Matrix& V, C z) {
        const std::int64_t r = U.cols();
        const std::int64_t n = rows.n;
        const Real* a = rows.main_row(row);
        const Real* b = rows.super_row(row);
        const Real* c = rows.sub_row(row);
        if (lu.factor(n, a, b, c, z) >= 0 || lu_t.factor(n, a, c, b, z) >= 0) {
            fail("{}: T - zI of row {} is singular; the Woodbury form needs it invertible", kWhere,
                 row);
        }
        g.resize(static_cast<std::size_t>(n));
        const TridiagonalRows<Real> one{a, b, c, 0, 0, 0, 1, n};
        tridiagonal_resolvent_diagonal_rows(one, z, g.data());
        W = U;
        Yh = V;
        for (std::int64_t p = 0; p < r; ++p) {
            lu.solve(W.col(p).data());
            lu_t.solve(Yh.col(p).data());
        }
        const Matrix capacitance = Matrix::Identity(r, r) + V.transpose() * W;
        const Eigen::PartialPivLU<Matrix> factor(capacitance);
        if (!(factor.rcond() > 4 * std::numeric_limits<Real>::epsilon())) {
            fail("{}: the capacitance I + Vᵀ(T - zI)⁻¹U of row {} is singular (reciprocal "
                 "condition number {:.3g}): U·Vᵀ makes H - zI singular",
                 kWhere, row, static_cast<double>(factor.rcond()));
        }
        M = factor.solve(Yh.transpose());
    }

    // G x = T⁻¹x - W (M x), and Gᵀ x = T⁻ᵀx - Mᵀ(Wᵀ x), for the columns of x, in place (M and
    // Wᵀ already contain a solve, so they act on x before it is solved).
    void apply(Matrix& x, bool transposed) const {
        const Matrix low = transposed ? Matrix(W.transpose() * x) : Matrix(M * x);
        for (Eigen::Index p = 0; p < x.cols(); ++p) {
            (transposed ? lu_t : lu).solve(x.col(p).data());
        }
        x -= transposed ? Matrix(M.transpose() * low) : Matrix(W * low);
    }
};

}  // namespace

template <class Real>
void bk_semiseparable_forward(const TridiagonalRows<Real>& rows, const Real* U, const Real* V,
                              std::int64_t rank, std::complex<Real> z, std::complex<Real>* f) {
    using Matrix = typename RowWoodbury<Real>::Matrix;
    const Matrix Uc = RowWoodbury<Real>::as_complex(U, rows.n, rank);
    const Matrix Vc = RowWoodbury<Real>::as_complex(V, rows.n, rank);
    std::exception_ptr error;
#pragma omp parallel num_threads(num_threads()) if (rows.batch > 1)
    {
        RowWoodbury<Real> wb;
#pragma omp for schedule(static)
        for (std::int64_t row = 0; row < rows.batch; ++row) {
            try {
                wb.build(rows, row, Uc, Vc, z);
                std::complex<Real>* out = f + row * rows.n;
                for (std::int64_t i = 0; i < rows.n; ++i) {
                    out[i] = wb.g[i] - wb.W.row(i).transpose().cwiseProduct(wb.M.col(i)).sum();
                }
            } catch (...) {
#pragma omp critical
                if (!error) error = std::current_exception();
            }
        }
    }
    if (error) std::rethrow_exception(error);
}

template <class Real>
void bk_semiseparable_backward(const TridiagonalRows<Real>& rows, const Real* U, const Real* V,
                               std::int64_t rank, std::complex<Real> z, const Real* grad_features,
                               Real* grad_v, Real* grad_U, Real* grad_V,
                               std::complex<double>* grad_z) {
    using C = std::complex<Real>;
    using Matrix = typename RowWoodbury<Real>::Matrix;
    using RealMatrix = typename RowWoodbury<Real>::RealMatrix;
    const std::int64_t n = rows.n, r = rank;
    const Matrix Uc = RowWoodbury<Real>::as_complex(U, n, r);
    const Matrix Vc = RowWoodbury<Real>::as_complex(V, n, r);
    std::exception_ptr error;
    RealMatrix total_U = RealMatrix::Zero(n, r), total_V = RealMatrix::Zero(n, r);
    std::complex<double> total_z = 0.0;
#pragma omp parallel num_threads(num_threads()) if (rows.batch > 1)
    {
        RowWoodbury<Real> wb;
        RealMatrix local_U = RealMatrix::Zero(n, r), local_V = RealMatrix::Zero(n, r);
        std::complex<double> local_z = 0.0;
        std::vector<C> gamma_bar(static_cast<std::size_t>(n)), sandwich(gamma_bar.size()),
            scratch;
#pragma omp for schedule(static)
        for (std::int64_t row = 0; row < rows.batch; ++row) {
            try {
                wb.build(rows, row, Uc, Vc, z);
                const Real* gf = grad_features + row * n * 2;
                for (std::int64_t i = 0; i < n; ++i) gamma_bar[i] = C(gf[2 * i], -gf[2 * i + 1]);
                const auto Gamma = Eigen::Map<const Eigen::Matrix<C, Eigen::Dynamic, 1>>(
                                       gamma_bar.data(), n)
                                       .asDiagonal();
                // diag P, term by term.
                resolvent_sandwich_diagonal(rows.main_row(row), rows.super_row(row),
                                            rows.sub_row(row), n, z, wb.g.data(),
                                            gamma_bar.data(), sandwich.data(), scratch);
                Matrix X = Gamma * wb.W;  // T⁻¹ Γ̄ W
                for (std::int64_t p = 0; p < r; ++p) wb.lu.solve(X.col(p).data());
                Matrix Z = Gamma * wb.M.transpose();  // T⁻ᵀ Γ̄ Mᵀ
                for (std::int64_t p = 0; p < r; ++p) wb.lu_t.solve(Z.col(p).data());
                const Matrix K = wb.M * (Gamma * wb.W);
                const Matrix WK = wb.W * K;
                C trace = 0;
                Real* gv = grad_v + row * n;
                for (std::int64_t j = 0; j < n; ++j) {
                    const C mj_dot_x = X.row(j).transpose().cwiseProduct(wb.M.col(j)).sum();
                    const C w_dot_z = wb.W.row(j).cwiseProduct(Z.row(j)).sum();
                    const C wk_dot_m = WK.row(j).transpose().cwiseProduct(wb.M.col(j)).sum();
                    const C p_jj = sandwich[j] - mj_dot_x - w_dot_z + wk_dot_m;
                    gv[j] = -p_jj.real();
                    trace += p_jj;
                }
                local_z += std::conj(std::complex<double>(trace.real(), trace.imag()));
                // P U = G Γ̄ (W (I - M U)),  Pᵀ V = Gᵀ Γ̄ (Ŷ - Mᵀ (Wᵀ V)).
                Matrix PU = Gamma * (wb.W * (Matrix::Identity(r, r) - wb.M * Uc));
                wb.apply(PU, false);
                Matrix PtV = Gamma * (wb.Yh - wb.M.transpose() * (wb.W.transpose() * Vc));
                wb.apply(PtV, true);
                local_U -= PtV.real();
                local_V -= PU.real();
            } catch (...) {
#pragma omp critical
                if (!error) error = std::current_exception();
            }
        }
#pragma omp critical
        {
            total_U += local_U;
            total_V += local_V;
            total_z += local_z;
        }
    }
    if (error) std::rethrow_exception(error);
    Eigen::Map<RealMatrix>(grad_U, n, r) += total_U;
    Eigen::Map<RealMatrix>(grad_V, n, r) += total_V;
    *grad_z += total_z;
}

template void bk_semiseparable_forward<float>(const TridiagonalRows<float>&, const float*,
                                              const float*, std::int64_t, std::complex<float>,
                                              std::complex<float>*);
template void bk_semiseparable_forward<double>(const TridiagonalRows<double>&, const double*,
                                               const double*, std::int64_t, std::complex<double>,
                                               std::complex<double>*);
template void bk_semiseparable_backward<float>(const TridiagonalRows<float>&, const float*,
                                               const float*, std::int64_t, std::complex<float>,
                                               const float*, float*, float*, float*,
                                               std::complex<double>*);
template void bk_semiseparable_backward<double>(const TridiagonalRows<double>&, const double*,
                                                const double*, std::int64_t, std::complex<double>,
                                                const double*, double*, double*, double*,
                                                std::complex<double>*);

}  // namespace structseq
