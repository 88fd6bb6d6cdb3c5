#pragma once
// Cholesky factorization, the forward substitution that uses it, and Gram-type products AᵀB,
// for the small (up to a few hundred) matrices that the chunked ridge attention forms once per
// chunk. At order 64, LAPACK's potrf and BLAS's trsm spend most of their time in call overhead
// and edge handling, and BLAS's AᵀB in packing A. These compute one row of the result at a time,
// held in vector registers while a combination of other rows is added to it, over whole 64-byte
// vectors when the orders are multiples of 16.
//
// Row-major, row stride `lda` / `ldb`. Private to the library.

#include <cstdint>

namespace structseq::linalg_detail {

// A = Uᵀ U for the SPD n × n matrix a, in place, by rows: U lands in the upper triangle,
// diagonal included. The strict lower triangle is scratch: rows are formed from the 16-aligned
// column below the diagonal, and nothing there reaches U. Returns 0, or the 1-based order of the
// first pivot that is not positive (or NaN), where it stops.
std::int64_t cholesky_upper_in_place(float* a, std::int64_t n, std::int64_t lda);
std::int64_t cholesky_upper_in_place(double* a, std::int64_t n, std::int64_t lda);

// B ← U⁻ᵀ B for U from cholesky_upper_in_place (n × n) and B (n × m): forward substitution with
// the lower factor L = Uᵀ, row by row.
void solve_transposed_upper(const float* u, std::int64_t n, std::int64_t lda, float* b,
                            std::int64_t m, std::int64_t ldb);
void solve_transposed_upper(const double* u, std::int64_t n, std::int64_t lda, double* b,
                            std::int64_t m, std::int64_t ldb);

// C = Aᵀ B (p × m) for A (rows × p) and B (rows × m), row i of C = Σ_r a_ri b_r. With
// `upper_only` (for A = B, C symmetric) only the entries on and above the diagonal are meant:
// row i is formed from the 16-aligned column at or below i (what falls left of the diagonal is
// scratch), and the columns before that are not touched.
void transposed_product(const float* a, std::int64_t rows, std::int64_t p, std::int64_t lda,
                        const float* b, std::int64_t m, std::int64_t ldb, float* c,
                        std::int64_t ldc, bool upper_only);
void transposed_product(const double* a, std::int64_t rows, std::int64_t p, std::int64_t lda,
                        const double* b, std::int64_t m, std::int64_t ldb, double* c,
                        std::int64_t ldc, bool upper_only);

// X −= Tᵀ B for T (n × n) upper triangular, its strict lower triangle zero, B (n × m) and X
// (n × m): row i of X loses Σ_{j≤i} t_ji b_j (four rows at a time, over the rows of B up to the
// group's last).
void subtract_transposed_upper_product(const float* t, std::int64_t n, std::int64_t ldt,
                                       const float* b, std::int64_t m, std::int64_t ldb, float* x,
                                       std::int64_t ldx);
void subtract_transposed_upper_product(const double* t, std::int64_t n, std::int64_t ldt,
                                       const double* b, std::int64_t m, std::int64_t ldb, double* x,
                                       std::int64_t ldx);

// dst (cols × rows, row stride ldd) = srcᵀ for src (rows × cols, row stride lds), by square
// tiles transposed in registers (32-byte pieces), the edges element by element.
void transpose(const float* src, std::int64_t rows, std::int64_t cols, std::int64_t lds, float* dst,
               std::int64_t ldd);
void transpose(const double* src, std::int64_t rows, std::int64_t cols, std::int64_t lds,
               double* dst, std::int64_t ldd);

// Copies the upper triangle of the n × n matrix a onto its lower triangle.
template <class Real>
void mirror_upper(Real* a, std::int64_t n, std::int64_t lda) {
    for (std::int64_t r = 1; r < n; ++r) {
        for (std::int64_t c = 0; c < r; ++c) a[r * lda + c] = a[c * lda + r];
    }
}

}  // namespace structseq::linalg_detail
