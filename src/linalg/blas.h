#pragma once
// The CBLAS routines the kernels call, under one name for float and double. Private to the
// library (cblas.h comes from the OpenBLAS build we link). Empty products return at once.

#include <cblas.h>

#include <complex>
#include <cstdint>

namespace structseq::blas {

// C = alpha op(A) op(B) + beta C, C: m × n, op(A): m × k.
inline void gemm(CBLAS_ORDER order, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, std::int64_t m,
                 std::int64_t n, std::int64_t k, float alpha, const float* a, std::int64_t lda,
                 const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
    if (m == 0 || n == 0) return;
    cblas_sgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

inline void gemm(CBLAS_ORDER order, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, std::int64_t m,
                 std::int64_t n, std::int64_t k, double alpha, const double* a, std::int64_t lda,
                 const double* b, std::int64_t ldb, double beta, double* c, std::int64_t ldc) {
    if (m == 0 || n == 0) return;
    cblas_dgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

inline void gemm(CBLAS_ORDER order, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, std::int64_t m,
                 std::int64_t n, std::int64_t k, std::complex<double> alpha,
                 const std::complex<double>* a, std::int64_t lda, const std::complex<double>* b,
                 std::int64_t ldb, std::complex<double> beta, std::complex<double>* c,
                 std::int64_t ldc) {
    if (m == 0 || n == 0) return;
    cblas_zgemm(order, ta, tb, m, n, k, &alpha, a, lda, b, ldb, &beta, c, ldc);
}

// C = alpha op(A) op(B) + beta C on row-major operands; ta, tb: transpose A, B.
template <class Real>
void gemm_rows(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, Real alpha,
               const Real* a, std::int64_t lda, const Real* b, std::int64_t ldb, Real beta, Real* c,
               std::int64_t ldc) {
    gemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k,
         alpha, a, lda, b, ldb, beta, c, ldc);
}

// B = alpha op(A)⁻¹ B (side Left) or alpha B op(A)⁻¹ (side Right), A triangular.
inline void trsm(CBLAS_ORDER order, CBLAS_SIDE side, CBLAS_UPLO uplo, CBLAS_TRANSPOSE t,
                 CBLAS_DIAG diag, std::int64_t m, std::int64_t n, float alpha, const float* a,
                 std::int64_t lda, float* b, std::int64_t ldb) {
    if (m == 0 || n == 0) return;
    cblas_strsm(order, side, uplo, t, diag, m, n, alpha, a, lda, b, ldb);
}

inline void trsm(CBLAS_ORDER order, CBLAS_SIDE side, CBLAS_UPLO uplo, CBLAS_TRANSPOSE t,
                 CBLAS_DIAG diag, std::int64_t m, std::int64_t n, double alpha, const double* a,
                 std::int64_t lda, double* b, std::int64_t ldb) {
    if (m == 0 || n == 0) return;
    cblas_dtrsm(order, side, uplo, t, diag, m, n, alpha, a, lda, b, ldb);
}

// y = alpha op(A) x + beta y, A: m × n, unit strides.
inline void gemv(CBLAS_ORDER order, CBLAS_TRANSPOSE t, std::int64_t m, std::int64_t n, float alpha,
                 const float* a, std::int64_t lda, const float* x, float beta, float* y) {
    cblas_sgemv(order, t, m, n, alpha, a, lda, x, 1, beta, y, 1);
}

inline void gemv(CBLAS_ORDER order, CBLAS_TRANSPOSE t, std::int64_t m, std::int64_t n, double alpha,
                 const double* a, std::int64_t lda, const double* x, double beta, double* y) {
    cblas_dgemv(order, t, m, n, alpha, a, lda, x, 1, beta, y, 1);
}

inline void gemv(CBLAS_ORDER order, CBLAS_TRANSPOSE t, std::int64_t m, std::int64_t n,
                 std::complex<double> alpha, const std::complex<double>* a, std::int64_t lda,
                 const std::complex<double>* x, std::complex<double> beta,
                 std::complex<double>* y) {
    cblas_zgemv(order, t, m, n, &alpha, a, lda, x, 1, &beta, y, 1);
}

}  // namespace structseq::blas
