#pragma once
// The few LAPACK routines the linalg area calls, from the OpenBLAS build we link (Fortran
// symbols, column-major, 32-bit integers), behind overloads on float and double.

#include "structseq/core/error.h"

#include <cstdint>
#include <limits>
#include <string_view>

extern "C" {
void sgesdd_(const char* jobz, const int* m, const int* n, float* a, const int* lda, float* s,
             float* u, const int* ldu, float* vt, const int* ldvt, float* work, const int* lwork,
             int* iwork, int* info);
void dgesdd_(const char* jobz, const int* m, const int* n, double* a, const int* lda, double* s,
             double* u, const int* ldu, double* vt, const int* ldvt, double* work, const int* lwork,
             int* iwork, int* info);
void sgeqrf_(const int* m, const int* n, float* a, const int* lda, float* tau, float* work,
             const int* lwork, int* info);
void dgeqrf_(const int* m, const int* n, double* a, const int* lda, double* tau, double* work,
             const int* lwork, int* info);
void spotrf_(const char* uplo, const int* n, float* a, const int* lda, int* info);
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info);
void sorgqr_(const int* m, const int* n, const int* k, float* a, const int* lda, const float* tau,
             float* work, const int* lwork, int* info);
void dorgqr_(const int* m, const int* n, const int* k, double* a, const int* lda, const double* tau,
             double* work, const int* lwork, int* info);
}

namespace structseq::lapack {

// LAPACK takes 32-bit sizes; larger problems are refused up front.
inline int to_lapack_int(std::int64_t value, std::string_view where) {
    if (value > std::numeric_limits<int>::max()) {
        fail("{}: dimension {} exceeds LAPACK's 32-bit limit", where, value);
    }
    return static_cast<int>(value);
}

inline void gesdd(const char* jobz, const int* m, const int* n, float* a, const int* lda, float* s,
                  float* u, const int* ldu, float* vt, const int* ldvt, float* work,
                  const int* lwork, int* iwork, int* info) {
    sgesdd_(jobz, m, n, a, lda, s, u, ldu, vt, ldvt, work, lwork, iwork, info);
}
inline void gesdd(const char* jobz, const int* m, const int* n, double* a, const int* lda,
                  double* s, double* u, const int* ldu, double* vt, const int* ldvt, double* work,
                  const int* lwork, int* iwork, int* info) {
    dgesdd_(jobz, m, n, a, lda, s, u, ldu, vt, ldvt, work, lwork, iwork, info);
}
inline void potrf(const char* uplo, const int* n, float* a, const int* lda, int* info) {
    spotrf_(uplo, n, a, lda, info);
}
inline void potrf(const char* uplo, const int* n, double* a, const int* lda, int* info) {
    dpotrf_(uplo, n, a, lda, info);
}
inline void geqrf(const int* m, const int* n, float* a, const int* lda, float* tau, float* work,
                  const int* lwork, int* info) {
    sgeqrf_(m, n, a, lda, tau, work, lwork, info);
}
inline void geqrf(const int* m, const int* n, double* a, const int* lda, double* tau, double* work,
                  const int* lwork, int* info) {
    dgeqrf_(m, n, a, lda, tau, work, lwork, info);
}
inline void orgqr(const int* m, const int* n, const int* k, float* a, const int* lda,
                  const float* tau, float* work, const int* lwork, int* info) {
    sorgqr_(m, n, k, a, lda, tau, work, lwork, info);
}
inline void orgqr(const int* m, const int* n, const int* k, double* a, const int* lda,
                  const double* tau, double* work, const int* lwork, int* info) {
    dorgqr_(m, n, k, a, lda, tau, work, lwork, info);
}

}  // namespace structseq::lapack
