#pragma once
// A single-input single-output state-space system (A, B, C, D) read from tensors into Eigen
// form, real (S = double) or complex (S = std::complex<double>): A (n, n), or (n,) for a
// diagonal A; B (n, 1) or (n,); C (1, n) or (n,); D one value. Scalars stand for n = 1.

#include "ssm/eigen_tensor.h"
#include "structseq/core/error.h"

#include <complex>
#include <string_view>
#include <type_traits>

namespace structseq::ssm_detail {

template <class S>
using Vec = Eigen::Matrix<S, Eigen::Dynamic, 1>;
template <class S>
using Mat = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <class S>
struct System {
    Mat<S> A;  // (n, n) dense, or (n, 1) holding the diagonal
    bool diagonal;
    Vec<S> B, C;
    S D;
};

template <class S>
inline Mat<S> matrix_of(const Tensor& t, std::string_view where, std::string_view argument) {
    if constexpr (std::is_same_v<S, double>) {
        return real_matrix(t, where, argument);
    } else {
        return complex_matrix(t, where, argument);
    }
}

// A vector argument given as (n,), (n, 1) or (1, n).
template <class S>
inline Vec<S> vector_of(const Tensor& t, std::int64_t n, std::string_view where,
                        std::string_view argument, std::string_view expected) {
    check_numeric(t, where, argument);
    const bool ok = (t.rank() == 0 && n == 1) || (t.rank() == 1 && t.dim(0) == n) ||
                    (t.rank() == 2 && t.numel() == n && (t.dim(0) == 1 || t.dim(1) == 1));
    check_argument(ok, where, argument, "shape " + shape_string(t.shape()), expected);
    const Mat<S> m = matrix_of<S>(t.reshape({n}), where, argument);
    return m.col(0);
}

template <class S>
inline S scalar_of(const Tensor& t, std::string_view where, std::string_view argument) {
    check_numeric(t, where, argument);
    check_argument(t.numel() == 1 && t.rank() <= 2, where, argument,
                   "shape " + shape_string(t.shape()), "one value: (), (1,) or (1, 1)");
    return matrix_of<S>(t.reshape({}), where, argument)(0, 0);
}

template <class S>
inline System<S> read_system(std::string_view where, const Tensor& A, const Tensor& B,
                             const Tensor& C, const Tensor& D) {
    check_numeric(A, where, "A");
    check_argument(A.rank() <= 1 || (A.rank() == 2 && A.dim(0) == A.dim(1)), where, "A",
                   "shape " + shape_string(A.shape()),
                   "(n, n), or (n,) for a diagonal A (a scalar for n = 1)");
    const Tensor a = A.rank() == 0 ? A.reshape({1}) : A;
    const std::int64_t n = a.dim(0);
    System<S> s;
    s.diagonal = a.rank() == 1;
    s.A = matrix_of<S>(a, where, "A");
    s.B = vector_of<S>(B, n, where, "B", fmt::format("({}, 1) or ({},)", n, n));
    s.C = vector_of<S>(C, n, where, "C", fmt::format("(1, {}) or ({},)", n, n));
    s.D = scalar_of<S>(D, where, "D");
    return s;
}

}  // namespace structseq::ssm_detail
