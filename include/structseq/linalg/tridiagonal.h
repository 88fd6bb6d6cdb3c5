#pragma once
// Tridiagonal matrices T with main diagonal a (N), super-diagonal b (N-1) and sub-diagonal c
// (N-1): T_ii = a_i, T_i,i+1 = b_i, T_i+1,i = c_i. The diagonals are real (float32 or float64);
// shifts z and right-hand sides may be complex.
//
// Batching: a: (..., N), b and c: (..., N-1), x: (..., N). Each operand either carries the full
// batch shape or none at all (then it is shared by every batch row); the output has the batch
// shape. Every function is O(N) per row and threads over rows.

#include "structseq/core/tensor.h"

#include <complex>
#include <cstdint>
#include <vector>

namespace structseq {

// Pointers to `batch` rows of diagonals; a stride of 0 shares one row between all rows.
template <class Real>
struct TridiagonalRows {
    const Real* main = nullptr;   // row r starts at main + r * main_stride, N values
    const Real* super = nullptr;  // N - 1 values per row
    const Real* sub = nullptr;    // N - 1 values per row
    std::int64_t main_stride = 0;
    std::int64_t super_stride = 0;
    std::int64_t sub_stride = 0;
    std::int64_t batch = 0;
    std::int64_t n = 0;

    const Real* main_row(std::int64_t r) const { return main + r * main_stride; }
    const Real* super_row(std::int64_t r) const { return super + r * super_stride; }
    const Real* sub_row(std::int64_t r) const { return sub + r * sub_stride; }
};

// LU factorization with partial pivoting of T - shift·I, as LAPACK's gttrf/gttrs: row
// interchanges keep every multiplier at most 1 in modulus, so a nonsingular T with a zero
// leading entry factors. S is Real or std::complex<Real>. O(N) to factor, O(N) per solve.
template <class S>
class TridiagonalLU {
public:
    // Returns -1 on success, else the index of the first exactly-zero pivot (T - shift·I is
    // singular). `super`/`sub` may be null when n == 1.
    template <class Real>
    std::int64_t factor(std::int64_t n, const Real* main, const Real* super, const Real* sub,
                        S shift);
    // Overwrites rhs (N values) with (T - shift·I)⁻¹ rhs.
    void solve(S* rhs) const;
    std::int64_t size() const { return static_cast<std::int64_t>(diag_.size()); }

private:
    std::vector<S> lower_;               // multipliers, N - 1
    std::vector<S> diag_;                // U's diagonal, N
    std::vector<S> upper1_;              // U's first super-diagonal, N - 1
    std::vector<S> upper2_;              // U's second super-diagonal (from interchanges), N - 2
    std::vector<std::uint8_t> swapped_;  // row i and i+1 interchanged at step i
};

// y = T x. a, b, c, x: float32 or float64, all the same dtype.
Tensor tridiagonal_matvec(const Tensor& a, const Tensor& b, const Tensor& c, const Tensor& x);

// x = (T - zI)⁻¹ rhs by LU with partial pivoting (tridiagonal_lu). rhs real (dtype of a) or
// complex of the same precision. The result is real when rhs is real and Im z = 0, else complex.
// A singular system is an Error naming the row and the pivot, never a NaN.
Tensor tridiagonal_solve(const Tensor& a, const Tensor& b, const Tensor& c, const Tensor& rhs,
                         std::complex<double> z = 0.0);

// Statistics of the pivot recursions, for diagnostics.
struct PivotStats {
    // Smallest |d_i| over every row: how close a leading block of T - zI came to singular.
    double min_abs_pivot = 0.0;
};

// G_ii = [(T - zI)⁻¹]_ii in the pivot (ratio) form, O(N) per row:
//   forward  d_1 = a_1 - z,  d_i = a_i - z - b_{i-1} c_{i-1} / d_{i-1}
//   backward e_N = a_N - z,  e_i = a_i - z - b_i c_i / e_{i+1}
//   G_ii = 1 / (d_i - b_i c_i / e_{i+1})   (G_NN = 1 / d_N)
// Pivots are ratios of leading/trailing principal minors, so they stay O(|a| + |b c| / |d|)
// where the minors themselves (the θ/φ recursions) overflow. A zero or non-finite pivot is an
// Error naming the row and position. Output complex64 for float32 diagonals, complex128 for
// float64. Entries must stay below ~1e150 (float64) / ~1e18 (float32) in modulus, so that
// |d|² is finite.
Tensor tridiagonal_resolvent_diagonal(const Tensor& a, const Tensor& b, const Tensor& c,
                                      std::complex<double> z, PivotStats* stats = nullptr);

// The raw kernel behind tridiagonal_resolvent_diagonal: out is (batch, N), contiguous.
// main_shift (N values, or null) is added to every row's main diagonal on the fly — a shared
// H₀ diagonal under per-row potentials — so that the sum is never written out.
template <class Real>
PivotStats tridiagonal_resolvent_diagonal_rows(const TridiagonalRows<Real>& rows,
                                               std::complex<Real> z, std::complex<Real>* out,
                                               const Real* main_shift = nullptr);

// The last diagonal entry of the resolvent of every leading block: [(T_{1..i} - zI)⁻¹]_ii =
// 1 / d_i (forward pivots), so entry i depends on rows 1 … i of T only. out: (batch, N).
template <class Real>
PivotStats tridiagonal_leading_resolvent_rows(const TridiagonalRows<Real>& rows,
                                              std::complex<Real> z, std::complex<Real>* out,
                                              const Real* main_shift = nullptr);

// G_ij = [(T - zI)⁻¹]_ij for index pairs (rows[k], cols[k]), k < K; rows and cols are int64
// (K,) shared by every batch row; output (..., K). After an O(N) set-up each entry is O(1):
//   i < j: G_ij = G_jj · Π_{k=i}^{j-1} (-b_k / d_k)
//   i > j: G_ij = G_jj · Π_{k=j}^{i-1} (-c_k / e_{k+1})
// with the products kept as prefix sums of complex logarithms (the products themselves
// under/overflow like θ/φ) and a prefix count of zero off-diagonals (a zero makes G_ij = 0).
Tensor tridiagonal_resolvent_entries(const Tensor& a, const Tensor& b, const Tensor& c,
                                     std::complex<double> z, const Tensor& rows,
                                     const Tensor& cols);

}  // namespace structseq
