#include "structseq/linalg/semiseparable.h"

#include "structseq/core/error.h"
#include "structseq/core/threads.h"
#include "structseq/linalg/tridiagonal.h"

#include "blas.h"

#include <Eigen/Dense>

#include <cmath>
#include <string>
#include <string_view>
#include <vector>

namespace structseq {

namespace {

// projection (B, r) = x (B, N) · Q (N, r); one row goes through GEMV, which OpenBLAS runs
// without the threading and packing overhead GEMM has for a 1-row operand.
template <class Real>
void project_rows(std::int64_t rows, std::int64_t n, std::int64_t r, const Real* x, const Real* Q,
                  Real* projection) {
    if (rows != 1) {
        blas::gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, r, n, Real(1), x, n, Q, r,
                   Real(0), projection, r);
    } else {
        blas::gemv(CblasRowMajor, CblasTrans, n, r, Real(1), Q, r, x, Real(0), projection);
    }
}

// y (B, N) += projection (B, r) · Pᵀ (r, N).
template <class Real>
void lift_rows(std::int64_t rows, std::int64_t n, std::int64_t r, const Real* projection,
               const Real* P, Real* y) {
    if (rows != 1) {
        blas::gemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n, r, Real(1), projection, r, P,
                   r, Real(1), y, n);
    } else {
        blas::gemv(CblasRowMajor, CblasNoTrans, n, r, Real(1), P, r, projection, Real(1), y);
    }
}

// x: (N,) or (B, N) → rows B (1 for a vector).
std::int64_t vector_rows(std::string_view where, std::string_view argument, const Tensor& x,
                         std::int64_t n, DType dtype) {
    check_argument(x.dtype() == dtype, where, std::string(argument) + " dtype",
                   dtype_name(x.dtype()), std::string(dtype_name(dtype)) + " (as the matrix)");
    if ((x.rank() == 1 || x.rank() == 2) && x.dim(-1) == n) return x.rank() == 1 ? 1 : x.dim(0);
    fail_argument(where, argument, "shape " + shape_string(x.shape()),
                  fmt::format("({},) or (B, {})", n, n));
}

// Y (B, N) = X T' + (X Q) Pᵀ, with T' = T (transposed = false: y = T x row by row, i.e.
// y_i = a_i x_i + b_i x_{i+1} + c_{i-1} x_{i-1}) or Tᵀ, and (P, Q) = (U, V) or (V, U).
// `projection`, when given, receives X Q (B, r).
template <class Real>
void apply_rows(const SemiseparableMatrix& h, bool transposed, std::int64_t rows, const Real* x,
                Real* y, Real* projection) {
    const std::int64_t n = h.size(), r = h.rank();
    const Real* a = h.main_diag().data<Real>();
    const Real* up = (transposed ? h.sub_diag() : h.super_diag()).data<Real>();
    const Real* down = (transposed ? h.super_diag() : h.sub_diag()).data<Real>();
    const Real* P = (transposed ? h.V() : h.U()).data<Real>();
    const Real* Q = (transposed ? h.U() : h.V()).data<Real>();
    std::vector<Real> local;
    if (projection == nullptr) {
        local.resize(static_cast<std::size_t>(rows * r));
        projection = local.data();
    }
    project_rows<Real>(rows, n, r, x, Q, projection);
#pragma omp parallel for num_threads(num_threads()) schedule(static) if (rows * n > 65536)
    for (std::int64_t b = 0; b < rows; ++b) {
        const Real* xb = x + b * n;
        Real* yb = y + b * n;
        for (std::int64_t i = 0; i < n; ++i) yb[i] = a[i] * xb[i];
        for (std::int64_t i = 0; i + 1 < n; ++i) {
            yb[i] += up[i] * xb[i + 1];
            yb[i + 1] += down[i] * xb[i];
        }
    }
    lift_rows<Real>(rows, n, r, projection, P, y);
}

template <class F>
void dispatch_real(DType dtype, F&& f) {
    dtype == DType::F32 ? f(0.0f) : f(0.0);
}

}  // namespace

SemiseparableMatrix::SemiseparableMatrix(const Tensor& main_diag, const Tensor& super_diag,
                                         const Tensor& sub_diag, const Tensor& U,
                                         const Tensor& V) {
    constexpr std::string_view where = "SemiseparableMatrix";
    const DType dtype = main_diag.dtype();
    check_argument(dtype == DType::F32 || dtype == DType::F64, where, "main_diag dtype",
                   dtype_name(dtype), "float32 or float64");
    check_argument(main_diag.rank() == 1 && main_diag.dim(0) >= 1, where, "main_diag",
                   "shape " + shape_string(main_diag.shape()), "(N,) with N >= 1");
    const std::int64_t n = main_diag.dim(0);
    check_shape(where, "super_diag", super_diag, {n - 1});
    check_shape(where, "sub_diag", sub_diag, {n - 1});
    check_argument(U.rank() == 2, where, "U", "shape " + shape_string(U.shape()),
                   fmt::format("({}, r)", n));
    check_shape(where, "U", U, {n, -1});
    check_shape(where, "V", V, {n, U.dim(1)});
    for (const auto& [name, t] : {std::pair{"super_diag", &super_diag},
                                  std::pair{"sub_diag", &sub_diag}, std::pair{"U", &U},
                                  std::pair{"V", &V}}) {
        check_argument(t->dtype() == dtype, where, std::string(name) + " dtype",
                       dtype_name(t->dtype()),
                       std::string(dtype_name(dtype)) + " (as main_diag)");
    }
    main_ = main_diag.contiguous();
    super_ = super_diag.contiguous();
    sub_ = sub_diag.contiguous();
    U_ = U.contiguous();
    V_ = V.contiguous();
}

Tensor SemiseparableMatrix::matvec(const Tensor& x_in) const {
    const std::int64_t rows = vector_rows("SemiseparableMatrix.matvec", "x", x_in, size(), dtype());
    const Tensor x = x_in.contiguous();
    Tensor y = Tensor::empty(x.shape(), dtype());
    dispatch_real(dtype(), [&]<class Real>(Real) {
        apply_rows<Real>(*this, false, rows, x.data<Real>(), y.data<Real>(), nullptr);
    });
    return y;
}

Tensor SemiseparableMatrix::rmatvec(const Tensor& x_in) const {
    const std::int64_t rows =
        vector_rows("SemiseparableMatrix.rmatvec", "x", x_in, size(), dtype());
    const Tensor x = x_in.contiguous();
    Tensor y = Tensor::empty(x.shape(), dtype());
    dispatch_real(dtype(), [&]<class Real>(Real) {
        apply_rows<Real>(*this, true, rows, x.data<Real>(), y.data<Real>(), nullptr);
    });
    return y;
}

// Y = H X with X (N, K): the columns of X are the rows of Xᵀ.
Tensor SemiseparableMatrix::matmat(const Tensor& X) const {
    constexpr std::string_view where = "SemiseparableMatrix.matmat";
    check_argument(X.dtype() == dtype(), where, "X dtype", dtype_name(X.dtype()),
                   std::string(dtype_name(dtype())) + " (as the matrix)");
    check_argument(X.rank() == 2 && X.dim(0) == size(), where, "X",
                   "shape " + shape_string(X.shape()), fmt::format("({}, K)", size()));
    const Tensor columns = X.transpose(0, 1).contiguous();
    return matvec(columns).transpose(0, 1).contiguous();
}

Tensor SemiseparableMatrix::to_dense() const {
    const std::int64_t n = size(), r = rank();
    Tensor H = Tensor::empty({n, n}, dtype());
    dispatch_real(dtype(), [&]<class Real>(Real) {
        Real* h = H.data<Real>();
        if (r == 0) {
            std::fill_n(h, n * n, Real(0));
        } else {
            blas::gemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, r, Real(1), U_.data<Real>(),
                       r, V_.data<Real>(), r, Real(0), h, n);
        }
        const Real* a = main_.data<Real>();
        const Real* b = super_.data<Real>();
        const Real* c = sub_.data<Real>();
        for (std::int64_t i = 0; i < n; ++i) h[i * n + i] += a[i];
        for (std::int64_t i = 0; i + 1 < n; ++i) {
            h[i * n + i + 1] += b[i];
            h[(i + 1) * n + i] += c[i];
        }
    });
    return H;
}

namespace {

// The Woodbury pieces for H - zI in scalar type S (Real or std::complex<Real>).
template <class Real, class S>
struct Woodbury {
    using Matrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;
    TridiagonalLU<S> lu;
    std::vector<S> W;  // T_z⁻¹ U, column-major N × r
    Eigen::PartialPivLU<Matrix> capacitance;

    Woodbury(const SemiseparableMatrix& h, S z, std::string_view where) {
        const std::int64_t n = h.size(), r = h.rank();
        const std::int64_t pivot = lu.factor(n, h.main_diag().data<Real>(),
                                             h.super_diag().data<Real>(),
                                             h.sub_diag().data<Real>(), z);
        if (pivot >= 0) {
            fail("{}: the tridiagonal part T - zI is singular (pivot {} is exactly 0); the "
                 "Woodbury solve needs it invertible — take Im z != 0 or another z",
                 where, pivot);
        }
        const Real* U = h.U().data<Real>();
        const Real* V = h.V().data<Real>();
        W.resize(static_cast<std::size_t>(n * r));
        for (std::int64_t p = 0; p < r; ++p) {
            S* w = W.data() + p * n;
            for (std::int64_t i = 0; i < n; ++i) w[i] = S(U[i * r + p]);
            lu.solve(w);
        }
        Matrix C = Matrix::Identity(r, r);
        for (std::int64_t q = 0; q < r; ++q) {
            const S* w = W.data() + q * n;
            for (std::int64_t i = 0; i < n; ++i) {
                for (std::int64_t p = 0; p < r; ++p) C(p, q) += S(V[i * r + p]) * w[i];
            }
        }
        if (r > 0) {
            capacitance.compute(C);
            const double rcond = static_cast<double>(capacitance.rcond());
            if (!(rcond > 4 * std::numeric_limits<Real>::epsilon())) {
                fail("{}: the capacitance matrix I + Vᵀ (T - zI)⁻¹ U is singular (reciprocal "
                     "condition number {:.3g}): H - zI is singular or nearly so",
                     where, rcond);
            }
        }
    }
};

template <class S>
bool finite_value(S x) {
    return std::isfinite(std::abs(x));
}

}  // namespace

Tensor SemiseparableMatrix::solve(const Tensor& rhs_in, std::complex<double> z) const {
    constexpr std::string_view where = "SemiseparableMatrix.solve";
    check_finite_complex(where, "z", z);
    const bool single = dtype() == DType::F32;
    const DType complex_type = single ? DType::C64 : DType::C128;
    check_argument(rhs_in.dtype() == dtype() || rhs_in.dtype() == complex_type, where,
                   "rhs dtype", dtype_name(rhs_in.dtype()),
                   fmt::format("{} or {}", dtype_name(dtype()), dtype_name(complex_type)));
    const std::int64_t n = size(), r = rank();
    if (!((rhs_in.rank() == 1 || rhs_in.rank() == 2) && rhs_in.dim(-1) == n)) {
        fail_argument(where, "rhs", "shape " + shape_string(rhs_in.shape()),
                      fmt::format("({},) or (B, {})", n, n));
    }
    const std::int64_t rows = rhs_in.rank() == 1 ? 1 : rhs_in.dim(0);
    const bool complex_out = z.imag() != 0.0 || rhs_in.dtype() == complex_type;
    const Tensor rhs = rhs_in.to(complex_out ? complex_type : dtype());
    Tensor out = Tensor::empty(rhs.shape(), rhs.dtype());
    const auto run = [&]<class Real, class S>(Real, S) {
        S shift;
        if constexpr (std::is_floating_point_v<S>) {
            shift = static_cast<S>(z.real());
        } else {
            shift = S(static_cast<Real>(z.real()), static_cast<Real>(z.imag()));
        }
        const Woodbury<Real, S> wb(*this, shift, where);
        const Real* V = V_.data<Real>();
        const S* in = rhs.data<S>();
        S* x = out.data<S>();
        bool finite = true;
        using Vector = Eigen::Matrix<S, Eigen::Dynamic, 1>;
        for (std::int64_t b = 0; b < rows; ++b) {
            S* xb = x + b * n;
            std::copy_n(in + b * n, n, xb);
            wb.lu.solve(xb);  // y = T_z⁻¹ rhs
            if (r > 0) {
                Vector t = Vector::Zero(r);  // Vᵀ y
                for (std::int64_t i = 0; i < n; ++i) {
                    for (std::int64_t p = 0; p < r; ++p) t(p) += S(V[i * r + p]) * xb[i];
                }
                const Vector s = wb.capacitance.solve(t);
                for (std::int64_t p = 0; p < r; ++p) {
                    const S* w = wb.W.data() + p * n;
                    for (std::int64_t i = 0; i < n; ++i) xb[i] -= w[i] * s(p);
                }
            }
            for (std::int64_t i = 0; i < n; ++i) finite &= finite_value(xb[i]);
        }
        if (!finite) {
            fail("{}: the solution overflowed (H - zI is numerically singular, or rhs has "
                 "inf/NaN)",
                 where);
        }
    };
    if (single) {
        complex_out ? run(0.0f, std::complex<float>()) : run(0.0f, 0.0f);
    } else {
        complex_out ? run(0.0, std::complex<double>()) : run(0.0, 0.0);
    }
    return out;
}

Tensor SemiseparableMatrix::resolvent_diagonal(std::complex<double> z) const {
    constexpr std::string_view where = "SemiseparableMatrix.resolvent_diagonal";
    check_finite_complex(where, "z", z);
    const std::int64_t n = size(), r = rank();
    const bool single = dtype() == DType::F32;
    Tensor out = Tensor::empty({n}, single ? DType::C64 : DType::C128);
    const auto run = [&]<class Real>(Real) {
        using C = std::complex<Real>;
        const C shift(static_cast<Real>(z.real()), static_cast<Real>(z.imag()));
        C* g = out.data<C>();
        TridiagonalRows<Real> rows{main_.data<Real>(), super_.data<Real>(), sub_.data<Real>(),
                                   0, 0, 0, 1, n};
        tridiagonal_resolvent_diagonal_rows(rows, shift, g);
        if (r == 0) return;
        const Woodbury<Real, C> wb(*this, shift, where);
        // Y = T_z⁻ᵀ V: the transposed tridiagonal swaps super- and sub-diagonal.
        TridiagonalLU<C> lu_t;
        lu_t.factor(n, main_.data<Real>(), sub_.data<Real>(), super_.data<Real>(), shift);
        const Real* V = V_.data<Real>();
        using Matrix = Eigen::Matrix<C, Eigen::Dynamic, Eigen::Dynamic>;
        const Matrix c_inverse = wb.capacitance.inverse();
        std::vector<C> Y(static_cast<std::size_t>(n * r));
        for (std::int64_t q = 0; q < r; ++q) {
            C* y = Y.data() + q * n;
            for (std::int64_t i = 0; i < n; ++i) y[i] = C(V[i * r + q]);
            lu_t.solve(y);
        }
        bool finite = true;
        for (std::int64_t i = 0; i < n; ++i) {
            C correction = 0;
            for (std::int64_t p = 0; p < r; ++p) {
                C wc = 0;  // (W C⁻¹)_ip
                for (std::int64_t k = 0; k < r; ++k) wc += wb.W[k * n + i] * c_inverse(k, p);
                correction += wc * Y[p * n + i];
            }
            g[i] -= correction;
            finite &= finite_value(g[i]);
        }
        if (!finite) fail("{}: the result overflowed (H - zI is numerically singular)", where);
    };
    dispatch_real(dtype(), run);
    return out;
}

SemiseparableMemory SemiseparableMatrix::memory_usage() const {
    const std::int64_t n = size(), r = rank();
    const auto scalar = static_cast<std::int64_t>(dtype_size(dtype()));
    SemiseparableMemory m;
    m.tridiagonal_bytes = (3 * n - 2) * scalar;
    m.lowrank_bytes = 2 * n * r * scalar;
    m.total_bytes = m.tridiagonal_bytes + m.lowrank_bytes;
    m.dense_bytes = n * n * scalar;
    m.memory_reduction =
        1.0 - static_cast<double>(m.total_bytes) / static_cast<double>(m.dense_bytes);
    return m;
}

FactorizationCheck SemiseparableMatrix::verify_factorization(const Tensor& H,
                                                             double tolerance) const {
    constexpr std::string_view where = "SemiseparableMatrix.verify_factorization";
    check_argument(H.dtype() == DType::F32 || H.dtype() == DType::F64, where, "H dtype",
                   dtype_name(H.dtype()), "float32 or float64");
    check_shape(where, "H", H, {size(), size()});
    check_argument(tolerance >= 0 && !std::isnan(tolerance), where, "tolerance",
                   fmt::format("{}", tolerance), "a number >= 0");
    const Tensor reference = H.to(DType::F64);
    const Tensor approx = to_dense().to(DType::F64);
    const double* h = reference.data<double>();
    const double* a = approx.data<double>();
    double error = 0, norm = 0;
    for (std::int64_t i = 0; i < reference.numel(); ++i) {
        error += (h[i] - a[i]) * (h[i] - a[i]);
        norm += h[i] * h[i];
    }
    FactorizationCheck check;
    check.frobenius_error = std::sqrt(error);
    check.relative_error = norm > 0 ? std::sqrt(error / norm) : (error > 0 ? INFINITY : 0.0);
    check.passes_tolerance = check.relative_error <= tolerance;
    return check;
}

namespace {

// Gradients of y = H x for rows of x (B, N); projection = X V (B, r).
template <class Real>
SemiseparableGradients backward_rows(const SemiseparableMatrix& h, const Tensor& dout,
                                     const Tensor& x, const Real* projection) {
    const std::int64_t n = h.size(), r = h.rank();
    const std::int64_t rows = x.rank() == 1 ? 1 : x.dim(0);
    SemiseparableGradients g{Tensor::empty(x.shape(), h.dtype()), Tensor({n}, h.dtype()),
                             Tensor({n - 1}, h.dtype()), Tensor({n - 1}, h.dtype()),
                             Tensor({n, r}, h.dtype()), Tensor({n, r}, h.dtype())};
    const Real* dy = dout.data<Real>();
    const Real* xs = x.data<Real>();
    // dx = dout T + (dout U) Vᵀ, row by row: the transposed apply with (P, Q) = (V, U).
    std::vector<Real> dout_u(static_cast<std::size_t>(rows * r));
    apply_rows<Real>(h, true, rows, dy, g.dx.data<Real>(), dout_u.data());
    Real* da = g.dmain_diag.data<Real>();
    Real* db = g.dsuper_diag.data<Real>();
    Real* dc = g.dsub_diag.data<Real>();
    for (std::int64_t b = 0; b < rows; ++b) {
        const Real* dyb = dy + b * n;
        const Real* xb = xs + b * n;
        for (std::int64_t i = 0; i < n; ++i) da[i] += dyb[i] * xb[i];
        for (std::int64_t i = 0; i + 1 < n; ++i) {
            db[i] += dyb[i] * xb[i + 1];
            dc[i] += dyb[i + 1] * xb[i];
        }
    }
    // dU = doutᵀ (X V), dV = Xᵀ (dout U).
    blas::gemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, r, rows, Real(1), dy, n, projection, r,
               Real(0), g.dU.data<Real>(), r);
    blas::gemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, r, rows, Real(1), xs, n, dout_u.data(),
               r, Real(0), g.dV.data<Real>(), r);
    return g;
}

template <class Real>
Tensor projection_of(const SemiseparableMatrix& h, const Tensor& x) {
    const std::int64_t n = h.size(), r = h.rank();
    const std::int64_t rows = x.rank() == 1 ? 1 : x.dim(0);
    Tensor p({rows, r}, h.dtype());
    blas::gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, r, n, Real(1), x.data<Real>(), n,
               h.V().data<Real>(), r, Real(0), p.data<Real>(), r);
    return p;
}

}  // namespace

SemiseparableGradients SemiseparableMatrix::matvec_backward(const Tensor& dout_in,
                                                            const Tensor& x_in) const {
    constexpr std::string_view where = "SemiseparableMatrix.matvec_backward";
    vector_rows(where, "x", x_in, size(), dtype());
    vector_rows(where, "dout", dout_in, size(), dtype());
    check_shape(where, "dout", dout_in, x_in.shape());
    const Tensor x = x_in.contiguous(), dout = dout_in.contiguous();
    SemiseparableGradients g;
    dispatch_real(dtype(), [&]<class Real>(Real) {
        const Tensor p = projection_of<Real>(*this, x);
        g = backward_rows<Real>(*this, dout, x, p.data<Real>());
    });
    return g;
}

Tensor SemiseparableMatrix::checkpoint_forward(const Tensor& x_in) {
    vector_rows("SemiseparableMatrix.checkpoint_forward", "x", x_in, size(), dtype());
    saved_x_ = x_in.clone();
    Tensor y = Tensor::empty(saved_x_.shape(), dtype());
    const std::int64_t rows = saved_x_.rank() == 1 ? 1 : saved_x_.dim(0);
    dispatch_real(dtype(), [&]<class Real>(Real) {
        Tensor projection({rows, rank()}, dtype());
        apply_rows<Real>(*this, false, rows, saved_x_.data<Real>(), y.data<Real>(),
                         projection.data<Real>());
        saved_projection_ = checkpointing_ ? Tensor() : projection;
    });
    return y;
}

SemiseparableGradients SemiseparableMatrix::checkpoint_backward(const Tensor& dout_in) {
    constexpr std::string_view where = "SemiseparableMatrix.checkpoint_backward";
    if (!saved_x_.defined()) {
        fail("{}: nothing saved; call checkpoint_forward first (each forward serves one "
             "backward)",
             where);
    }
    vector_rows(where, "dout", dout_in, size(), dtype());
    check_shape(where, "dout", dout_in, saved_x_.shape());
    const Tensor dout = dout_in.contiguous();
    SemiseparableGradients g;
    dispatch_real(dtype(), [&]<class Real>(Real) {
        const Tensor p =
            saved_projection_.defined() ? saved_projection_ : projection_of<Real>(*this, saved_x_);
        g = backward_rows<Real>(*this, dout, saved_x_, p.data<Real>());
    });
    saved_x_ = Tensor();
    saved_projection_ = Tensor();
    return g;
}

std::int64_t SemiseparableMatrix::saved_bytes() const {
    std::int64_t bytes = 0;
    if (saved_x_.defined()) bytes += static_cast<std::int64_t>(saved_x_.nbytes());
    if (saved_projection_.defined()) bytes += static_cast<std::int64_t>(saved_projection_.nbytes());
    return bytes;
}

}  // namespace structseq
