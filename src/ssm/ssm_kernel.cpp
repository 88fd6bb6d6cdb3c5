#include "structseq/ssm/ssm_kernel.h"

#include "ssm/eigen_tensor.h"
#include "ssm/fft.h"
#include "ssm/state_space_system.h"
#include "structseq/core/error.h"
#include "structseq/core/threads.h"

#include <cmath>
#include <numbers>

namespace structseq {

namespace {

using namespace ssm_detail;
using Cd = std::complex<double>;

template <class S>
Vec<S> recurrent(const System<S>& s, std::int64_t L) {
    Vec<S> K(L);
    K(0) = s.D;
    Vec<S> v = s.B, next(v.size());
    for (std::int64_t l = 1; l < L; ++l) {
        K(l) = s.C.cwiseProduct(v).sum();
        if (l + 1 < L) {
            if (s.diagonal) {
                next = s.A.col(0).cwiseProduct(v);
            } else {
                next.noalias() = s.A * v;
            }
            v.swap(next);
        }
    }
    return K;
}

template <class S>
Vec<S> doubling(const System<S>& s, std::int64_t L) {
    const std::int64_t n = s.B.size();
    const std::int64_t columns = L - 1;  // A^j B for j < L − 1
    Vec<S> K(L);
    K(0) = s.D;
    if (columns == 0) return K;
    Mat<S> power = s.diagonal ? Mat<S>(s.A.col(0).asDiagonal()) : s.A;
    Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic> X(n, columns);  // column-major: blocks
    X.col(0) = s.B;
    std::int64_t have = 1;
    while (have < columns) {
        const std::int64_t add = std::min(have, columns - have);
        X.middleCols(have, add).noalias() = power * X.leftCols(add);
        have += add;
        if (have < columns) power = power * power;
    }
    K.tail(columns) = (s.C.transpose() * X).transpose();
    return K;
}

template <class S>
Vec<S> diagonal(const System<S>& s, std::int64_t L, std::string_view where) {
    Vec<S> lambda;
    if (s.diagonal) {
        lambda = s.A.col(0);
    } else {
        const Mat<S> off = s.A - Mat<S>(s.A.diagonal().asDiagonal());
        check_argument(off.cwiseAbs().maxCoeff() == 0, where, "A", "a non-diagonal matrix",
                       "(n,) or a diagonal (n, n) for method \"diagonal\"");
        lambda = s.A.diagonal();
    }
    const std::int64_t n = lambda.size();
    const Vec<S> w = s.C.cwiseProduct(s.B);
    Vec<S> K(L);
    K(0) = s.D;
    // Blocks of a fixed length, each starting from λ^{ℓ₀−1} by pow: the result does not depend
    // on the thread count.
    constexpr std::int64_t kBlock = 2048;
    const std::int64_t blocks = (L - 1 + kBlock - 1) / kBlock;
#pragma omp parallel for num_threads(num_threads()) schedule(static) if (blocks > 1 && n * L > 100000)
    for (std::int64_t blk = 0; blk < blocks; ++blk) {
        const std::int64_t first = 1 + blk * kBlock;
        const std::int64_t last = std::min(L, first + kBlock);
        Vec<S> p(n);
        for (std::int64_t i = 0; i < n; ++i) {
            p(i) = blk == 0 ? S(1) : std::pow(lambda(i), static_cast<double>(first - 1));
        }
        for (std::int64_t l = first; l < last; ++l) {
            K(l) = w.cwiseProduct(p).sum();
            p = p.cwiseProduct(lambda);
        }
    }
    return K;
}

template <class S>
Tensor kernel_for(const Tensor& A, const Tensor& B, const Tensor& C, const Tensor& D,
                  std::int64_t L, std::string_view method, DType dtype) {
    constexpr std::string_view where = "ssm_kernel";
    const System<S> s = read_system<S>(where, A, B, C, D);
    Vec<S> K;
    if (method == "recurrent") {
        K = recurrent(s, L);
    } else if (method == "doubling") {
        K = doubling(s, L);
    } else {
        K = diagonal(s, L, where);
    }
    return tensor_from(Mat<S>(K), {L}, dtype);
}

void check_length(std::string_view where, std::int64_t L) {
    check_argument(L >= 1 && L <= (std::int64_t{1} << 40), where, "L", fmt::format("{}", L),
                   "a kernel length >= 1");
}

}  // namespace

Tensor ssm_kernel(const Tensor& A, const Tensor& B, const Tensor& C, const Tensor& D,
                  std::int64_t L, std::string_view method) {
    constexpr std::string_view where = "ssm_kernel";
    check_length(where, L);
    check_argument(method == "recurrent" || method == "doubling" || method == "diagonal", where,
                   "method", fmt::format("\"{}\"", method),
                   "\"recurrent\", \"doubling\" or \"diagonal\"");
    for (const Tensor* t : {&A, &B, &C, &D}) check_numeric(*t, where, "A, B, C and D");
    const bool complex = is_complex(A.dtype()) || is_complex(B.dtype()) ||
                         is_complex(C.dtype()) || is_complex(D.dtype());
    const DType dtype = result_dtype({&A, &B, &C, &D}, complex);
    return complex ? kernel_for<Cd>(A, B, C, D, L, method, dtype)
                   : kernel_for<double>(A, B, C, D, L, method, dtype);
}

Tensor ssm_kernel_dplr(const Tensor& Lambda_in, const Tensor& P_in, const Tensor& Q_in,
                       const Tensor& B_in, const Tensor& C_in, const Tensor& D_in,
                       std::int64_t L) {
    constexpr std::string_view where = "ssm_kernel_dplr";
    check_length(where, L);
    check_numeric(Lambda_in, where, "Lambda");
    check_argument(Lambda_in.rank() == 1, where, "Lambda", "shape " + shape_string(Lambda_in.shape()),
                   "(n,)");
    const std::int64_t n = Lambda_in.dim(0);
    const auto low_rank = [&](const Tensor& t, std::string_view argument) {
        check_numeric(t, where, argument);
        check_argument((t.rank() == 1 && t.dim(0) == n) || (t.rank() == 2 && t.dim(1) == n),
                       where, argument, "shape " + shape_string(t.shape()),
                       fmt::format("(r, {}) or ({},)", n, n));
        return t.rank() == 1 ? t.reshape({1, n}) : t;
    };
    const Tensor P_t = low_rank(P_in, "P"), Q_t = low_rank(Q_in, "Q");
    check_argument(P_t.dim(0) == Q_t.dim(0), where, "Q", "shape " + shape_string(Q_in.shape()),
                   "the shape of P " + shape_string(P_in.shape()));
    const Vec<Cd> lambda = complex_matrix(Lambda_in, where, "Lambda").col(0);
    const Mat<Cd> P = complex_matrix(P_t, where, "P");
    const Mat<Cd> Qc = complex_matrix(Q_t, where, "Q").conjugate();
    const Vec<Cd> B = vector_of<Cd>(B_in, n, where, "B", fmt::format("({}, 1) or ({},)", n, n));
    const Vec<Cd> C = vector_of<Cd>(C_in, n, where, "C", fmt::format("(1, {}) or ({},)", n, n));
    const Cd D = scalar_of<Cd>(D_in, where, "D");
    const std::int64_t r = P.rows();
    const std::int64_t M = next_power_of_two(L);
    // C̃ = C − C A^M by M steps of c ← c A = c ⊙ Λ − (c Pᵀ) conj(Q).
    Vec<Cd> c = C;
    for (std::int64_t step = 0; step < M; ++step) {
        const Eigen::Matrix<Cd, 1, Eigen::Dynamic> cp = c.transpose() * P.transpose();
        c = (c.cwiseProduct(lambda).transpose() - cp * Qc).transpose();
    }
    const Vec<Cd> ct = C - c;
    std::vector<double> re(static_cast<std::size_t>(M)), im(re.size());
    bool singular = false;
#pragma omp parallel for num_threads(num_threads()) schedule(static) reduction(|| : singular) \
    if (M * n > 20000)
    for (std::int64_t k = 0; k < M; ++k) {
        const double angle = -2 * std::numbers::pi * static_cast<double>(k) / static_cast<double>(M);
        const Cd omega(std::cos(angle), std::sin(angle));
        Cd cb = 0;
        Eigen::Matrix<Cd, 1, Eigen::Dynamic> cp = Eigen::Matrix<Cd, 1, Eigen::Dynamic>::Zero(r);
        Vec<Cd> qb = Vec<Cd>::Zero(r);
        Mat<Cd> qp = Mat<Cd>::Zero(r, r);
        for (std::int64_t i = 0; i < n; ++i) {
            const Cd denominator = 1.0 - omega * lambda(i);
            if (std::abs(denominator) < 1e-300) singular = true;
            const Cd R = 1.0 / denominator;
            cb += ct(i) * B(i) * R;
            for (std::int64_t a = 0; a < r; ++a) {
                cp(a) += ct(i) * P(a, i) * R;
                qb(a) += Qc(a, i) * B(i) * R;
                for (std::int64_t b = 0; b < r; ++b) qp(a, b) += Qc(a, i) * P(b, i) * R;
            }
        }
        const Mat<Cd> system = Mat<Cd>::Identity(r, r) + omega * qp;
        const Cd value = cb - omega * (cp * system.partialPivLu().solve(qb))(0, 0);
        re[static_cast<std::size_t>(k)] = value.real();
        im[static_cast<std::size_t>(k)] = value.imag();
    }
    if (singular) {
        fail("{}: 1 - omega*Lambda vanishes at an M-th root of unity (M = {}); an eigenvalue of A "
             "lies on the unit circle",
             where, M);
    }
    std::vector<double> work_re(re.size()), work_im(re.size());
    ColumnFft(M).transform(re.data(), im.data(), 1, true, work_re.data(), work_im.data());
    Mat<Cd> K(L, 1);
    K(0, 0) = D;
    for (std::int64_t l = 1; l < L; ++l) {
        K(l, 0) = Cd(re[static_cast<std::size_t>(l - 1)], im[static_cast<std::size_t>(l - 1)]) /
                  static_cast<double>(M);
    }
    const bool complex = is_complex(Lambda_in.dtype()) || is_complex(P_in.dtype()) ||
                         is_complex(Q_in.dtype()) || is_complex(B_in.dtype()) ||
                         is_complex(C_in.dtype()) || is_complex(D_in.dtype());
    const DType dtype = result_dtype({&Lambda_in, &P_in, &Q_in, &B_in, &C_in, &D_in}, complex);
    if (complex) return tensor_from(K, {L}, dtype);
    return tensor_from(RowMatrix(K.real()), {L}, dtype);
}

}  // namespace structseq
