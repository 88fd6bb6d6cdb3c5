#include "small_matrix.h"

#include "structseq/core/cpu_dispatch.h"
#include "structseq/core/lane_transpose.h"
#include "structseq/core/lane_vector.h"

#include <cmath>

namespace structseq::linalg_detail {

namespace {

using Index = std::int64_t;

// What a combination does to its target rows: x = Σ …, or x −= Σ ….
enum class Combine { kAssign, kSubtract };

// Rows x_q (q < Rows, row stride ldx), NV vectors of W lanes each:
//   x_q (= or −=) Σ_{i<count} coef[i · coef_stride + q] · rows[i · ldr + (0, NV · W)].
// Rows · NV accumulators stay in registers over the whole sum; each load of a row of `rows`
// feeds Rows FMAs.
template <Combine mode, int Rows, int NV, class Real>
STRUCTSEQ_ALWAYS_INLINE void combine_block(Real* x, Index ldx, const Real* rows, Index ldr,
                                           const Real* coef, Index coef_stride, Index count) {
    constexpr int W = 64 / static_cast<int>(sizeof(Real));
    using V = LaneVector<Real, W>;
    V acc[Rows][NV];
#pragma GCC unroll 4
    for (int q = 0; q < Rows; ++q) {
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
            acc[q][v] = mode == Combine::kAssign ? V{} : load_lanes<V>(x + q * ldx + v * W);
        }
    }
    for (Index i = 0; i < count; ++i) {
        V row[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) row[v] = load_lanes<V>(rows + i * ldr + v * W);
#pragma GCC unroll 4
        for (int q = 0; q < Rows; ++q) {
            const Real s = coef[i * coef_stride + q];
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) {
                if constexpr (mode == Combine::kAssign) {
                    acc[q][v] += s * row[v];
                } else {
                    acc[q][v] -= s * row[v];
                }
            }
        }
    }
#pragma GCC unroll 4
    for (int q = 0; q < Rows; ++q) {
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) store_lanes(x + q * ldx + v * W, acc[q][v]);
    }
}

// The first column that row r of a result works on: 0, or with `upper_only` the 64-byte-aligned
// column at or below the diagonal (the same for rows r … r + 3 when r is a multiple of 4).
template <class Real>
constexpr Index first_column(Index r, bool upper_only) {
    constexpr Index W = 64 / static_cast<Index>(sizeof(Real));
    return upper_only ? r - r % W : 0;
}

// combine_block over columns [0, len): blocks of four vectors, then the whole vectors left in
// one block, then the last columns one by one.
template <Combine mode, int Rows, class Real>
STRUCTSEQ_ALWAYS_INLINE void combine_rows(Real* x, Index ldx, Index len, const Real* rows,
                                          Index ldr, const Real* coef, Index coef_stride,
                                          Index count) {
    constexpr Index W = 64 / static_cast<Index>(sizeof(Real));
    Index j = 0;
    for (; j + 4 * W <= len; j += 4 * W) {
        combine_block<mode, Rows, 4>(x + j, ldx, rows + j, ldr, coef, coef_stride, count);
    }
    switch ((len - j) / W) {
        case 3:
            combine_block<mode, Rows, 3>(x + j, ldx, rows + j, ldr, coef, coef_stride, count);
            break;
        case 2:
            combine_block<mode, Rows, 2>(x + j, ldx, rows + j, ldr, coef, coef_stride, count);
            break;
        case 1:
            combine_block<mode, Rows, 1>(x + j, ldx, rows + j, ldr, coef, coef_stride, count);
            break;
        default:
            break;
    }
    for (j += (len - j) / W * W; j < len; ++j) {
        for (int q = 0; q < Rows; ++q) {
            Real sum = 0;
            for (Index i = 0; i < count; ++i) sum += coef[i * coef_stride + q] * rows[i * ldr + j];
            Real& target = x[q * ldx + j];
            target = mode == Combine::kAssign ? sum : target - sum;
        }
    }
}

// Rows of a triangular recursion four at a time: rows r0 … r0 + 3 of `x` (row stride ldx,
// columns [first_column, len)) first lose Σ_{i<r0} c_i,r · x_i in one combination (coef[i · stride
// + r] = c_i,r, the rows i < r0 already final); then, one at a time, the terms from the block's own
// earlier rows, and `finish(r)` makes row r final. The rows past the last whole block, one by one.
template <class Real, class Finish>
STRUCTSEQ_ALWAYS_INLINE void triangular_rows(Real* x, Index ldx, Index n, bool upper_only,
                                             Index len, const Real* coef, Index coef_stride,
                                             Finish&& finish) {
    Index r0 = 0;
    for (; r0 + 4 <= n; r0 += 4) {
        const Index f = first_column<Real>(r0, upper_only);
        combine_rows<Combine::kSubtract, 4>(x + r0 * ldx + f, ldx, len - f, x + f, ldx, coef + r0,
                                            coef_stride, r0);
        for (Index r = r0; r < r0 + 4; ++r) {
            combine_rows<Combine::kSubtract, 1>(x + r * ldx + f, ldx, len - f, x + r0 * ldx + f,
                                                ldx, coef + r0 * coef_stride + r, coef_stride,
                                                r - r0);
            finish(r);
        }
    }
    for (; r0 < n; ++r0) {
        const Index f = first_column<Real>(r0, upper_only);
        combine_rows<Combine::kSubtract, 1>(x + r0 * ldx + f, ldx, len - f, x + f, ldx, coef + r0,
                                            coef_stride, r0);
        finish(r0);
    }
}

// Row k of U (left-looking): u_k,j = (a_k,j − Σ_{i<k} u_ik u_ij) / u_kk for j ≥ k, with u_kk the
// square root of the j = k term. Rows are formed from the aligned column at or below k.
template <class Real>
STRUCTSEQ_ALWAYS_INLINE Index cholesky_upper(Real* a, Index n, Index lda) {
    Index failed = 0;
    triangular_rows(a, lda, n, true, n, a, lda, [&](Index k) {
        Real* row_k = a + k * lda;
        const Real pivot = row_k[k];
        if (failed != 0 || !(pivot > 0)) {
            if (failed == 0) failed = k + 1;
            row_k[k] = 1;  // keeps the later rows finite; the result is discarded
            return;
        }
        const Real diagonal = std::sqrt(pivot), inverse = 1 / diagonal;
        row_k[k] = diagonal;
        for (Index j = k + 1; j < n; ++j) row_k[j] *= inverse;
    });
    return failed;
}

// Row r of the solution (left-looking): (b_r − Σ_{j<r} u_jr x_j) / u_rr.
template <class Real>
STRUCTSEQ_ALWAYS_INLINE void forward_substitution(const Real* u, Index n, Index lda, Real* b,
                                                  Index m, Index ldb) {
    triangular_rows(b, ldb, n, false, m, u, lda, [&](Index r) {
        Real* row_r = b + r * ldb;
        const Real inverse = 1 / u[r * lda + r];
        for (Index j = 0; j < m; ++j) row_r[j] *= inverse;
    });
}

// Aᵀ B four rows at a time: rows i … i + 3 are Σ_r a_r,i+q b_r, from column 0, or with
// upper_only from the aligned column at or below i (the same for the four rows).
template <class Real>
STRUCTSEQ_ALWAYS_INLINE void product_rows(const Real* a, Index rows, Index p, Index lda,
                                          const Real* b, Index m, Index ldb, Real* c, Index ldc,
                                          bool upper_only) {
    Index i = 0;
    for (; i + 4 <= p; i += 4) {
        const Index from = first_column<Real>(i, upper_only);
        combine_rows<Combine::kAssign, 4>(c + i * ldc + from, ldc, m - from, b + from, ldb, a + i,
                                          lda, rows);
    }
    for (; i < p; ++i) {
        const Index from = first_column<Real>(i, upper_only);
        combine_rows<Combine::kAssign, 1>(c + i * ldc + from, ldc, m - from, b + from, ldb, a + i,
                                          lda, rows);
    }
}

template <class Real>
STRUCTSEQ_ALWAYS_INLINE void subtract_upper_rows(const Real* t, Index n, Index ldt, const Real* b,
                                                 Index m, Index ldb, Real* x, Index ldx) {
    Index i = 0;
    for (; i + 4 <= n; i += 4) {
        combine_rows<Combine::kSubtract, 4>(x + i * ldx, ldx, m, b, ldb, t + i, ldt, i + 4);
    }
    for (; i < n; ++i) {
        combine_rows<Combine::kSubtract, 1>(x + i * ldx, ldx, m, b, ldb, t + i, ldt, i + 1);
    }
}

// One w × w tile (w = 32 bytes of Real) loaded as pieces, transposed by transpose_units, stored.
template <class Real>
STRUCTSEQ_ALWAYS_INLINE void transpose_tile(const Real* src, Index lds, Real* dst, Index ldd) {
    constexpr int w = 32 / static_cast<int>(sizeof(Real));
    typedef Real Piece __attribute__((vector_size(32)));
    Piece tile[w];
    for (int i = 0; i < w; ++i) tile[i] = load_lanes<Piece>(src + i * lds);
    transpose_units<Piece, 1, w>(tile);
    for (int i = 0; i < w; ++i) store_lanes(dst + i * ldd, tile[i]);
}

// w × w tiles, two row tiles side by side where there are two, so that each destination row
// gets a whole 64-byte line at a time (one tile writes half a line, and a half-written line
// would go out to the level-2 cache and come back before its other half).
template <class Real>
STRUCTSEQ_ALWAYS_INLINE void transpose_tiles(const Real* src, Index rows, Index cols, Index lds,
                                             Real* dst, Index ldd) {
    constexpr int w = 32 / static_cast<int>(sizeof(Real));
    const Index full_rows = rows / w * w, full_cols = cols / w * w;
    Index r0 = 0;
    for (; r0 + 2 * w <= full_rows; r0 += 2 * w) {
        for (Index c0 = 0; c0 < full_cols; c0 += w) {
            transpose_tile(src + r0 * lds + c0, lds, dst + c0 * ldd + r0, ldd);
            transpose_tile(src + (r0 + w) * lds + c0, lds, dst + c0 * ldd + r0 + w, ldd);
        }
    }
    for (; r0 < full_rows; r0 += w) {
        for (Index c0 = 0; c0 < full_cols; c0 += w) {
            transpose_tile(src + r0 * lds + c0, lds, dst + c0 * ldd + r0, ldd);
        }
    }
    for (Index r = 0; r < rows; ++r) {  // the edges: the last rows, the last columns
        for (Index c = r < full_rows ? full_cols : 0; c < cols; ++c) {
            dst[c * ldd + r] = src[r * lds + c];
        }
    }
}

}  // namespace

STRUCTSEQ_CPU_CLONES
void transpose(const float* src, Index rows, Index cols, Index lds, float* dst, Index ldd) {
    transpose_tiles(src, rows, cols, lds, dst, ldd);
}

STRUCTSEQ_CPU_CLONES
void transpose(const double* src, Index rows, Index cols, Index lds, double* dst, Index ldd) {
    transpose_tiles(src, rows, cols, lds, dst, ldd);
}

STRUCTSEQ_CPU_CLONES
void subtract_transposed_upper_product(const float* t, Index n, Index ldt, const float* b, Index m,
                                       Index ldb, float* x, Index ldx) {
    subtract_upper_rows(t, n, ldt, b, m, ldb, x, ldx);
}

STRUCTSEQ_CPU_CLONES
void subtract_transposed_upper_product(const double* t, Index n, Index ldt, const double* b,
                                       Index m, Index ldb, double* x, Index ldx) {
    subtract_upper_rows(t, n, ldt, b, m, ldb, x, ldx);
}

STRUCTSEQ_CPU_CLONES
Index cholesky_upper_in_place(float* a, Index n, Index lda) {
    return cholesky_upper(a, n, lda);
}

STRUCTSEQ_CPU_CLONES
Index cholesky_upper_in_place(double* a, Index n, Index lda) {
    return cholesky_upper(a, n, lda);
}

STRUCTSEQ_CPU_CLONES
void solve_transposed_upper(const float* u, Index n, Index lda, float* b, Index m, Index ldb) {
    forward_substitution(u, n, lda, b, m, ldb);
}

STRUCTSEQ_CPU_CLONES
void solve_transposed_upper(const double* u, Index n, Index lda, double* b, Index m, Index ldb) {
    forward_substitution(u, n, lda, b, m, ldb);
}

STRUCTSEQ_CPU_CLONES
void transposed_product(const float* a, Index rows, Index p, Index lda, const float* b, Index m,
                        Index ldb, float* c, Index ldc, bool upper_only) {
    product_rows(a, rows, p, lda, b, m, ldb, c, ldc, upper_only);
}

STRUCTSEQ_CPU_CLONES
void transposed_product(const double* a, Index rows, Index p, Index lda, const double* b, Index m,
                        Index ldb, double* c, Index ldc, bool upper_only) {
    product_rows(a, rows, p, lda, b, m, ldb, c, ldc, upper_only);
}

}  // namespace structseq::linalg_detail
