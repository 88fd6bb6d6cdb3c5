#include "structseq/linalg/svd.h"

#include "blas.h"
#include "lapack.h"

#include "structseq/core/cpu_dispatch.h"
#include "structseq/core/error.h"
#include "structseq/core/rng.h"
#include "structseq/core/threads.h"


#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <string_view>
#include <vector>

namespace structseq {

namespace {

// Column-major views of the row-major M (m, n): its buffer is the column-major A = Mᵀ (n × m,
// leading dimension n). Every LAPACK/BLAS call below works on A and writes its results so that
// they read as the row-major outputs without a transpose.

template <class Real>
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, std::int64_t m, std::int64_t n, std::int64_t k,
          const Real* a, std::int64_t lda, const Real* b, std::int64_t ldb, Real* c,
          std::int64_t ldc) {
    blas::gemm(CblasColMajor, ta, tb, m, n, k, Real(1), a, lda, b, ldb, Real(0), c, ldc);
}

// Thin SVD of the column-major rows × cols matrix `a` (destroyed): u (rows × K), s (K),
// vt (K × cols), K = min(rows, cols).
template <class Real>
void gesdd_thin(std::int64_t rows, std::int64_t cols, Real* a, Real* u, Real* s, Real* vt,
                std::string_view where) {
    const int m = lapack::to_lapack_int(rows, where);
    const int n = lapack::to_lapack_int(cols, where);
    const int k = std::min(m, n);
    const int lda = std::max(1, m), ldu = std::max(1, m), ldvt = std::max(1, k);
    std::vector<int> iwork(static_cast<std::size_t>(8 * std::max(k, 1)));
    int info = 0, lwork = -1;
    Real query = 0;
    lapack::gesdd("S", &m, &n, a, &lda, s, u, &ldu, vt, &ldvt, &query, &lwork, iwork.data(),
                  &info);
    lwork = static_cast<int>(query) + 1;
    std::vector<Real> work(static_cast<std::size_t>(lwork));
    lapack::gesdd("S", &m, &n, a, &lda, s, u, &ldu, vt, &ldvt, work.data(), &lwork, iwork.data(),
                  &info);
    if (info > 0) fail("{}: the SVD did not converge (LAPACK gesdd info = {})", where, info);
    if (info < 0) fail("{}: internal error: gesdd argument {} is invalid", where, -info);
}

// Scratch of one orthonormalization, reused across the calls of one randomized SVD.
template <class Real>
struct OrthonormalizeWork {
    std::vector<Real> tau, work, gram, y;
};

// gram (cols × cols) = yᵀ y for the column-major y (rows × cols).
template <class Real>
void gram_matrix(int rows, int cols, const Real* y, Real* gram) {
    gemm<Real>(CblasTrans, CblasNoTrans, cols, cols, rows, y, rows, y, rows, gram, cols);
}

// out (rows × cols) = y (rows × cols) · r (cols × cols), column-major.
template <class Real>
void multiply_right(int rows, int cols, const Real* y, const Real* r, Real* out) {
    gemm<Real>(CblasNoTrans, CblasNoTrans, rows, cols, cols, y, rows, r, cols, out, rows);
}

// In place: the upper-triangular r (cols × cols, column-major) becomes r⁻¹, by columns in
// double. The lower triangle is zeroed so that r⁻¹ can go through a plain GEMM, which is
// several times faster than OpenBLAS's TRSM for these narrow panels.
template <class Real>
void invert_upper(std::int64_t cols, Real* r) {
    std::vector<double> inv(static_cast<std::size_t>(cols * cols), 0.0);
    for (std::int64_t j = 0; j < cols; ++j) {
        inv[j * cols + j] = 1.0 / r[j * cols + j];
        for (std::int64_t i = j - 1; i >= 0; --i) {
            double sum = 0.0;
            for (std::int64_t k = i + 1; k <= j; ++k) sum += r[k * cols + i] * inv[j * cols + k];
            inv[j * cols + i] = -sum / r[i * cols + i];
        }
    }
    for (std::size_t i = 0; i < inv.size(); ++i) r[i] = static_cast<Real>(inv[i]);
}

// One CholeskyQR pass, y → out: G = YᵀY, G = RᵀR (potrf), out = Y R⁻¹. False when R is
// singular or so ill-conditioned (diagonal ratio below 30 · sqrt(eps)) that a second pass could
// not restore orthogonality: the error after one pass is about eps · cond(Y)².
template <class Real>
bool cholesky_qr_pass(int rows, int cols, const Real* y, Real* out, std::vector<Real>& gram) {
    gram.resize(static_cast<std::size_t>(cols) * cols);
    gram_matrix(rows, cols, y, gram.data());
    int info = 0;
    lapack::potrf("U", &cols, gram.data(), &cols, &info);
    if (info != 0) return false;
    Real lo = std::abs(gram[0]), hi = lo;
    for (int i = 1; i < cols; ++i) {
        lo = std::min(lo, std::abs(gram[i * cols + i]));
        hi = std::max(hi, std::abs(gram[i * cols + i]));
    }
    if (!(lo > Real(30) * std::sqrt(std::numeric_limits<Real>::epsilon()) * hi)) return false;
    invert_upper(cols, gram.data());
    multiply_right(rows, cols, y, gram.data(), out);
    return true;
}

// Overwrites the column-major rows × cols matrix `a` (rows >= cols) with a basis of its columns:
// orthonormal to working precision when `exact`, else well-conditioned (orthogonality error
// below ~1e-3), which is all the intermediate bases of a power iteration need to keep the small
// singular directions. CholeskyQR (Fukaya et al. 2014) — one pass, or two (CholeskyQR2) when
// exact — uses level-3 BLAS only and is several times faster than Householder for these tall,
// thin sketches; Householder QR (geqrf + orgqr) from the original when the sketch is too
// ill-conditioned for it (a numerically rank-deficient M).
template <class Real>
void orthonormalize(std::int64_t rows, std::int64_t cols, Real* a, bool exact,
                    OrthonormalizeWork<Real>& w, std::string_view where) {
    const int m = lapack::to_lapack_int(rows, where);
    const int n = lapack::to_lapack_int(cols, where);
    const std::size_t count = static_cast<std::size_t>(rows * cols);
    w.y.resize(count);
    if (cholesky_qr_pass(m, n, a, w.y.data(), w.gram)) {
        if (!exact) {
            std::copy_n(w.y.data(), count, a);
            return;
        }
        if (cholesky_qr_pass(m, n, w.y.data(), a, w.gram)) return;
    }
    const int lda = std::max(1, m);
    w.tau.resize(static_cast<std::size_t>(n));
    int info = 0, lwork = -1;
    Real query_qr = 0, query_q = 0;
    lapack::geqrf(&m, &n, a, &lda, w.tau.data(), &query_qr, &lwork, &info);
    lapack::orgqr(&m, &n, &n, a, &lda, w.tau.data(), &query_q, &lwork, &info);
    lwork = static_cast<int>(std::max(query_qr, query_q)) + 1;
    if (w.work.size() < static_cast<std::size_t>(lwork)) {
        w.work.resize(static_cast<std::size_t>(lwork));
    }
    lapack::geqrf(&m, &n, a, &lda, w.tau.data(), w.work.data(), &lwork, &info);
    if (info != 0) fail("{}: internal error: geqrf info = {}", where, info);
    lapack::orgqr(&m, &n, &n, a, &lda, w.tau.data(), w.work.data(), &lwork, &info);
    if (info != 0) fail("{}: internal error: orgqr info = {}", where, info);
}

void check_matrices(const Tensor& M, std::string_view where) {
    check_argument(M.dtype() == DType::F32 || M.dtype() == DType::F64, where, "M dtype",
                   dtype_name(M.dtype()), "float32 or float64");
    check_argument(M.rank() >= 2, where, "M", "shape " + shape_string(M.shape()),
                   "shape (..., m, n)");
    check_argument(M.dim(-2) >= 1 && M.dim(-1) >= 1, where, "M",
                   "shape " + shape_string(M.shape()), "m >= 1 and n >= 1");
}

// x · 0 is 0 for finite x and NaN for inf/NaN, so one vectorized sum tells whether every value
// is finite; the search for the culprit runs only on failure.
template <class Real>
STRUCTSEQ_ALWAYS_INLINE bool all_finite_inline(const Real* x, std::int64_t count) {
    Real probe = 0;
#pragma omp simd reduction(+ : probe)
    for (std::int64_t i = 0; i < count; ++i) probe += x[i] * Real(0);
    return probe == Real(0);
}

STRUCTSEQ_CPU_CLONES bool all_finite(const float* x, std::int64_t count) {
    return all_finite_inline(x, count);
}

STRUCTSEQ_CPU_CLONES bool all_finite(const double* x, std::int64_t count) {
    return all_finite_inline(x, count);
}

template <class Real>
void check_finite(const Real* x, std::int64_t count, std::string_view where) {
    if (all_finite(x, count)) return;
    for (std::int64_t i = 0; i < count; ++i) {
        if (!std::isfinite(x[i])) {
            fail("{}: M holds {} at flat index {}; expected finite values", where, x[i], i);
        }
    }
}

// Runs per_matrix(b) for every matrix of the batch: in parallel when there are enough matrices
// to feed the threads, else one after another so that OpenBLAS threads each call.
template <class F>
void for_each_matrix(std::int64_t batch, F&& per_matrix) {
    if (batch >= num_threads()) {
        std::exception_ptr error;
#pragma omp parallel for num_threads(num_threads()) schedule(dynamic)
        for (std::int64_t b = 0; b < batch; ++b) {
            try {
                per_matrix(b);
            } catch (...) {
#pragma omp critical
                if (!error) error = std::current_exception();
            }
        }
        if (error) std::rethrow_exception(error);
    } else {
        for (std::int64_t b = 0; b < batch; ++b) per_matrix(b);
    }
}

Shape replace_last_two(const Tensor& M, std::int64_t rows, std::int64_t cols) {
    Shape shape = M.shape();
    shape[shape.size() - 2] = rows;
    shape.back() = cols;
    return shape;
}

Shape replace_last_two_by_one(const Tensor& M, std::int64_t k) {
    Shape shape = M.shape();
    shape.pop_back();
    shape.back() = k;
    return shape;
}

}  // namespace

template <class Real>
void full_svd_matrix(std::int64_t m, std::int64_t n, const Real* M, Real* U, Real* S, Real* Vh) {
    std::vector<Real> a(M, M + m * n);
    // gesdd on A = Mᵀ (n × m): A = Ṽ S Ũᵀ. Its u (n × K, column-major) is Vh row-major, its
    // vt (K × m, column-major) is U row-major.
    gesdd_thin(n, m, a.data(), Vh, S, U, "full_svd");
}

template <class Real>
void randomized_svd_matrix(std::int64_t m, std::int64_t n, const Real* M, std::int64_t k,
                           std::int64_t n_iter, std::int64_t oversampling, const Real* omega,
                           Real* U, Real* S, Real* Vh) {
    constexpr std::string_view where = "batched_randomized_svd";
    const std::int64_t l = k + oversampling;
    const std::int64_t full = std::min(m, n);
    if (l >= full) {
        std::vector<Real> u(static_cast<std::size_t>(m * full)), s(static_cast<std::size_t>(full)),
            vh(static_cast<std::size_t>(full * n));
        full_svd_matrix(m, n, M, u.data(), s.data(), vh.data());
        for (std::int64_t i = 0; i < m; ++i) std::copy_n(&u[i * full], k, U + i * k);
        std::copy_n(s.data(), k, S);
        std::copy_n(vh.data(), k * n, Vh);
        return;
    }
    const Real* A = M;  // column-major n × m, leading dimension n
    std::vector<Real> Q(static_cast<std::size_t>(m * l)), Z(static_cast<std::size_t>(n * l));
    OrthonormalizeWork<Real> work;
    gemm<Real>(CblasTrans, CblasNoTrans, m, l, n, A, n, omega, n, Q.data(), m);
    orthonormalize(m, l, Q.data(), n_iter == 0, work, where);
    for (std::int64_t it = 0; it < n_iter; ++it) {
        gemm<Real>(CblasNoTrans, CblasNoTrans, n, l, m, A, n, Q.data(), m, Z.data(), n);
        orthonormalize(n, l, Z.data(), false, work, where);
        gemm<Real>(CblasTrans, CblasNoTrans, m, l, n, A, n, Z.data(), n, Q.data(), m);
        orthonormalize(m, l, Q.data(), it + 1 == n_iter, work, where);
    }
    // Bᵀ = Mᵀ Q (n × l) = U_b diag(s) VT_b, so B = VT_bᵀ diag(s) U_bᵀ. The SVD of the tall Bᵀ
    // goes through its QR: Bᵀ = Q_b R, R = U_r diag(s) VT_b (l × l), U_b = Q_b U_r.
    gemm<Real>(CblasNoTrans, CblasNoTrans, n, l, m, A, n, Q.data(), m, Z.data(), n);
    std::vector<Real> qb(Z), r(static_cast<std::size_t>(l * l)), ur(r.size()), vtb(r.size()),
        sb(static_cast<std::size_t>(l)), ub(Z.size());
    orthonormalize(n, l, qb.data(), true, work, where);
    gemm<Real>(CblasTrans, CblasNoTrans, l, l, n, qb.data(), n, Z.data(), n, r.data(), l);
    gesdd_thin(l, l, r.data(), ur.data(), sb.data(), vtb.data(), where);
    gemm<Real>(CblasNoTrans, CblasNoTrans, n, l, l, qb.data(), n, ur.data(), l, ub.data(), n);
    // U row-major (m × k) is Uᵀ column-major (k × m) = VT_b[:k, :] · Qᵀ.
    gemm<Real>(CblasNoTrans, CblasTrans, k, m, l, vtb.data(), l, Q.data(), m, U, k);
    std::copy_n(sb.data(), k, S);
    std::copy_n(ub.data(), n * k, Vh);  // Vh row-major (k × n) = U_b[:, :k] column-major
}

template void full_svd_matrix<float>(std::int64_t, std::int64_t, const float*, float*, float*,
                                     float*);
template void full_svd_matrix<double>(std::int64_t, std::int64_t, const double*, double*,
                                      double*, double*);
template void randomized_svd_matrix<float>(std::int64_t, std::int64_t, const float*, std::int64_t,
                                           std::int64_t, std::int64_t, const float*, float*,
                                           float*, float*);
template void randomized_svd_matrix<double>(std::int64_t, std::int64_t, const double*,
                                            std::int64_t, std::int64_t, std::int64_t,
                                            const double*, double*, double*, double*);

SvdResult full_svd(const Tensor& M_in) {
    constexpr std::string_view where = "full_svd";
    check_matrices(M_in, where);
    const Tensor M = M_in.contiguous();
    const std::int64_t m = M.dim(-2), n = M.dim(-1), k = std::min(m, n);
    const std::int64_t batch = M.numel() / (m * n);
    SvdResult r{Tensor::empty(replace_last_two(M, m, k), M.dtype()),
                Tensor::empty(replace_last_two_by_one(M, k), M.dtype()),
                Tensor::empty(replace_last_two(M, k, n), M.dtype())};
    const auto run = [&]<class Real>(Real) {
        check_finite(M.data<Real>(), M.numel(), where);
        for_each_matrix(batch, [&](std::int64_t b) {
            full_svd_matrix<Real>(m, n, M.data<Real>() + b * m * n, r.U.data<Real>() + b * m * k,
                                  r.S.data<Real>() + b * k, r.Vh.data<Real>() + b * k * n);
        });
    };
    M.dtype() == DType::F32 ? run(0.0f) : run(0.0);
    return r;
}

SvdResult batched_randomized_svd(const Tensor& M_in, std::int64_t k, std::int64_t n_iter,
                                 std::int64_t oversampling, std::uint64_t seed) {
    constexpr std::string_view where = "batched_randomized_svd";
    check_matrices(M_in, where);
    const std::int64_t m = M_in.dim(-2), n = M_in.dim(-1);
    check_argument(k >= 1 && k <= std::min(m, n), where, "k", std::to_string(k),
                   fmt::format("1 <= k <= min(m, n) = {}", std::min(m, n)));
    check_argument(n_iter >= 0, where, "n_iter", std::to_string(n_iter), "n_iter >= 0");
    check_argument(oversampling >= 0, where, "oversampling", std::to_string(oversampling),
                   "oversampling >= 0");
    const Tensor M = M_in.contiguous();
    const std::int64_t batch = M.numel() / (m * n);
    SvdResult r{Tensor::empty(replace_last_two(M, m, k), M.dtype()),
                Tensor::empty(replace_last_two_by_one(M, k), M.dtype()),
                Tensor::empty(replace_last_two(M, k, n), M.dtype())};
    // One Gaussian Ω (n × (k + oversampling), column-major) serves every matrix of the batch:
    // each sketch M_b Ω is still Gaussian, and the draw is made once.
    Tensor omega = Rng(seed).normal({k + oversampling, n}, M.dtype());
    const auto run = [&]<class Real>(Real) {
        check_finite(M.data<Real>(), M.numel(), where);
        for_each_matrix(batch, [&](std::int64_t b) {
            randomized_svd_matrix<Real>(m, n, M.data<Real>() + b * m * n, k, n_iter, oversampling,
                                        omega.data<Real>(), r.U.data<Real>() + b * m * k,
                                        r.S.data<Real>() + b * k, r.Vh.data<Real>() + b * k * n);
        });
    };
    M.dtype() == DType::F32 ? run(0.0f) : run(0.0);
    return r;
}

}  // namespace structseq
