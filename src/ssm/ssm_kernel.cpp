#include "structseq/ssm/ssm_kernel.h"

#include "linalg/blas.h"
#include "ssm/eigen_tensor.h"
#include "ssm/fft.h"
#include "ssm/state_space_system.h"
#include "ssm/vandermonde.h"
#include "structseq/core/cpu_dispatch.h"
#include "structseq/core/error.h"
#include "structseq/core/threads.h"

#include <cmath>
#include <limits>
#include <numbers>

namespace structseq {

namespace {

using namespace ssm_detail;
using Cd = std::complex<double>;

// v_ℓ = A v_{ℓ−1} by BLAS gemv (or elementwise for a diagonal A), K_ℓ = C · v_{ℓ−1}.
template <class S>
Vec<S> recurrent(const System<S>& s, std::int64_t L) {
    const std::int64_t n = s.B.size();
    Vec<S> K(L);
    K(0) = s.D;
    Vec<S> v = s.B, next(n);
    for (std::int64_t l = 1; l < L; ++l) {
        K(l) = s.C.cwiseProduct(v).sum();
        if (l + 1 == L) break;
        if (s.diagonal) {
            next = s.A.col(0).cwiseProduct(v);
        } else {
            blas::gemv(CblasRowMajor, CblasNoTrans, n, n, S(1), s.A.data(), n, v.data(), S(0),
                       next.data());
        }
        v.swap(next);
    }
    return K;
}

// X = [B, AB, …, A^{L−2}B] (n × (L − 1), row-major) built by doubling: the first `have`
// columns times A^{have} give the next ones; then K_{1…} = Xᵀ C. BLAS gemm throughout.
template <class S>
Vec<S> doubling(const System<S>& s, std::int64_t L) {
    const std::int64_t n = s.B.size();
    const std::int64_t columns = L - 1;
    Vec<S> K(L);
    K(0) = s.D;
    if (columns == 0) return K;
    Mat<S> power = s.diagonal ? Mat<S>(s.A.col(0).asDiagonal()) : s.A, square(n, n);
    Mat<S> X(n, columns);
    X.col(0) = s.B;
    std::int64_t have = 1;
    while (have < columns) {
        const std::int64_t add = std::min(have, columns - have);
        blas::gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, add, n, S(1), power.data(), n,
                   X.data(), columns, S(0), X.data() + have, columns);
        have += add;
        if (have < columns) {
            blas::gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, S(1), power.data(), n,
                       power.data(), n, S(0), square.data(), n);
            power.swap(square);
        }
    }
    blas::gemv(CblasRowMajor, CblasTrans, n, columns, S(1), X.data(), columns, s.C.data(), S(0),
               K.data() + 1);
    return K;
}

// K_ℓ = Σ_i w_i λ_i^{ℓ−1}, w = C ⊙ B, for 8 consecutive ℓ at once: lane j of p_i holds
// λ_i^{8m + j} and advances by λ_i^8, four i at a time to hide the multiply latency. Complex λ
// in split real/imaginary lanes.
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
    const Vec<S> w = s.C.cwiseProduct(s.B);
    std::vector<S> sums(static_cast<std::size_t>(L - 1 + 8));
    vandermonde_sums(lambda.data(), w.data(), lambda.size(), L - 1, sums.data());
    Vec<S> K(L);
    K(0) = s.D;
    for (std::int64_t l = 1; l < L; ++l) K(l) = sums[static_cast<std::size_t>(l - 1)];
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

// c A^M for A = diag(Λ) − Pᵀ conj(Q): M steps of c ← c ⊙ Λ − Σ_a (c · P_a) conj(Q_a).
// Stops at 0 once |c| has fallen below 1e-200 |C| (beyond any effect on C − C A^M, and before
// subnormal numbers make every step a hundred times slower).
Vec<Cd> left_power(const Vec<Cd>& C, const Vec<Cd>& lambda, const Mat<Cd>& P, const Mat<Cd>& Qc,
                   std::int64_t M) {
    const std::int64_t n = lambda.size(), r = P.rows();
    std::vector<Cd> c(C.data(), C.data() + n), dots(static_cast<std::size_t>(r));
    const double floor = 1e-200 * C.cwiseAbs().maxCoeff();
    for (std::int64_t step = 0; step < M; ++step) {
        if (step % 64 == 0) {
            double largest = 0;
            for (const Cd& x : c) largest = std::max(largest, std::abs(x));
            if (largest <= floor) return Vec<Cd>::Zero(n);
        }
        for (std::int64_t a = 0; a < r; ++a) {
            Cd dot = 0;
            for (std::int64_t i = 0; i < n; ++i) dot += c[i] * P(a, i);
            dots[a] = dot;
        }
        for (std::int64_t i = 0; i < n; ++i) {
            Cd value = c[i] * lambda(i);
            for (std::int64_t a = 0; a < r; ++a) value -= dots[a] * Qc(a, i);
            c[i] = value;
        }
    }
    return Eigen::Map<const Vec<Cd>>(c.data(), n);
}

// x = M⁻¹ y for a small complex r × r system (row-major, overwritten), partial pivoting.
Cd solve_small(std::vector<Cd>& m, std::vector<Cd>& y, std::int64_t r, const std::vector<Cd>& row) {
    for (std::int64_t k = 0; k < r; ++k) {
        std::int64_t pivot = k;
        for (std::int64_t i = k + 1; i < r; ++i) {
            if (std::abs(m[i * r + k]) > std::abs(m[pivot * r + k])) pivot = i;
        }
        if (pivot != k) {
            for (std::int64_t j = 0; j < r; ++j) std::swap(m[k * r + j], m[pivot * r + j]);
            std::swap(y[k], y[pivot]);
        }
        for (std::int64_t i = k + 1; i < r; ++i) {
            const Cd f = m[i * r + k] / m[k * r + k];
            for (std::int64_t j = k; j < r; ++j) m[i * r + j] -= f * m[k * r + j];
            y[i] -= f * y[k];
        }
    }
    Cd result = 0;  // row · x
    for (std::int64_t k = r - 1; k >= 0; --k) {
        Cd x = y[k];
        for (std::int64_t j = k + 1; j < r; ++j) x -= m[k * r + j] * y[j];
        y[k] = x / m[k * r + k];
        result += row[k] * y[k];
    }
    return result;
}

// R_j = 1 / (1 − ω_j λ) for j < count, written as interleaved (re, im) pairs; split real
// arithmetic so that the loop vectorizes. False when some |1 − ω_j λ|² is 0 (or tiny).
STRUCTSEQ_CPU_CLONES
bool cauchy_row(const double* omega_re, const double* omega_im, std::int64_t count, Cd lambda,
                double* out) {
    const double lr = lambda.real(), li = lambda.imag();
    double smallest = std::numeric_limits<double>::infinity();
#pragma omp simd reduction(min : smallest)
    for (std::int64_t j = 0; j < count; ++j) {
        const double dr = 1.0 - (omega_re[j] * lr - omega_im[j] * li);
        const double di = -(omega_re[j] * li + omega_im[j] * lr);
        const double norm = dr * dr + di * di;
        smallest = std::min(smallest, norm);
        out[2 * j] = dr / norm;
        out[2 * j + 1] = -di / norm;
    }
    return smallest > 1e-300;
}

// k̂(ω_k) for the M-th roots of unity ω_k = e^{−2πik/M}, into (re, im). Every Cauchy sum is
// Σ_i e_i R_i with R_i = 1/(1 − ω λ_i) and a coefficient row e independent of ω: rows
// C̃⊙B, C̃⊙P_a, conj(Q_a)⊙B, conj(Q_a)⊙P_b, (r + 1)² in all, applied to a chunk of roots as
// one complex matrix product E (m × n) · R (n × chunk).
void generating_function(const Vec<Cd>& lambda, const Mat<Cd>& P, const Mat<Cd>& Qc,
                         const Vec<Cd>& B, const Vec<Cd>& ct, std::int64_t M, double* re,
                         double* im) {
    constexpr std::string_view where = "ssm_kernel_dplr";
    const std::int64_t n = lambda.size(), r = P.rows(), m = (r + 1) * (r + 1);
    Mat<Cd> E(m, n);
    for (std::int64_t i = 0; i < n; ++i) {
        E(0, i) = ct(i) * B(i);
        for (std::int64_t a = 0; a < r; ++a) {
            E(1 + a, i) = ct(i) * P(a, i);
            E(1 + r + a, i) = Qc(a, i) * B(i);
            for (std::int64_t b = 0; b < r; ++b) E(1 + 2 * r + a * r + b, i) = Qc(a, i) * P(b, i);
        }
    }
    constexpr std::int64_t kChunk = 256;
    const std::int64_t chunks = (M + kChunk - 1) / kChunk;
    bool singular = false;
#pragma omp parallel num_threads(num_threads()) if (chunks > 1 && M * n > 20000)
    {
        Mat<Cd> R(n, kChunk), S(m, kChunk);
        std::vector<Cd> system(static_cast<std::size_t>(r * r)), rhs(static_cast<std::size_t>(r)),
            row(static_cast<std::size_t>(r)), omegas(static_cast<std::size_t>(kChunk));
        std::vector<double> omega_re(static_cast<std::size_t>(kChunk)), omega_im(omega_re.size());
#pragma omp for schedule(static) reduction(|| : singular)
        for (std::int64_t chunk = 0; chunk < chunks; ++chunk) {
            const std::int64_t k0 = chunk * kChunk, count = std::min(kChunk, M - k0);
            for (std::int64_t j = 0; j < count; ++j) {
                const double angle =
                    -2 * std::numbers::pi * static_cast<double>(k0 + j) / static_cast<double>(M);
                omegas[j] = Cd(std::cos(angle), std::sin(angle));
                omega_re[j] = omegas[j].real();
                omega_im[j] = omegas[j].imag();
            }
            for (std::int64_t i = 0; i < n; ++i) {
                singular |= !cauchy_row(omega_re.data(), omega_im.data(), count, lambda(i),
                                        reinterpret_cast<double*>(R.data() + i * kChunk));
            }
            blas::gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, count, n, Cd(1), E.data(), n,
                       R.data(), kChunk, Cd(0), S.data(), kChunk);
            for (std::int64_t j = 0; j < count; ++j) {
                const Cd omega = omegas[j];
                for (std::int64_t a = 0; a < r; ++a) {
                    row[a] = S(1 + a, j);
                    rhs[a] = S(1 + r + a, j);
                    for (std::int64_t b = 0; b < r; ++b) {
                        system[a * r + b] =
                            (a == b ? 1.0 : 0.0) + omega * S(1 + 2 * r + a * r + b, j);
                    }
                }
                const Cd value = S(0, j) - omega * solve_small(system, rhs, r, row);
                re[k0 + j] = value.real();
                im[k0 + j] = value.imag();
            }
        }
    }
    if (singular) {
        fail(
            "{}: 1 - omega*Lambda vanishes at an M-th root of unity (M = {}); an eigenvalue of A "
            "lies on the unit circle",
            where, M);
    }
}

}  // namespace

Tensor ssm_kernel(const Tensor& A, const Tensor& B, const Tensor& C, const Tensor& D,
                  std::int64_t L, std::string_view method) {
    constexpr std::string_view where = "ssm_kernel";
    check_length(where, L);
    check_argument(method == "recurrent" || method == "doubling" || method == "diagonal", where,
                   "method", fmt::format("\"{}\"", method),
                   "\"recurrent\", \"doubling\" or \"diagonal\"");
    // Present here; their values are checked once, by read_system.
    for (const Tensor* t : {&A, &B, &C, &D}) {
        check_argument(t->defined(), where, "A, B, C and D", "missing", "arrays");
    }
    const bool complex = is_complex(A.dtype()) || is_complex(B.dtype()) || is_complex(C.dtype()) ||
                         is_complex(D.dtype());
    const DType dtype = result_dtype({&A, &B, &C, &D}, complex);
    return complex ? kernel_for<Cd>(A, B, C, D, L, method, dtype)
                   : kernel_for<double>(A, B, C, D, L, method, dtype);
}

Tensor ssm_kernel_dplr(const Tensor& Lambda_in, const Tensor& P_in, const Tensor& Q_in,
                       const Tensor& B_in, const Tensor& C_in, const Tensor& D_in, std::int64_t L) {
    constexpr std::string_view where = "ssm_kernel_dplr";
    check_length(where, L);
    check_numeric(Lambda_in, where, "Lambda");
    check_argument(Lambda_in.rank() == 1, where, "Lambda",
                   "shape " + shape_string(Lambda_in.shape()), "(n,)");
    const std::int64_t n = Lambda_in.dim(0);
    const auto low_rank = [&](const Tensor& t, std::string_view argument) {
        check_numeric(t, where, argument);
        check_argument((t.rank() == 1 && t.dim(0) == n) || (t.rank() == 2 && t.dim(1) == n), where,
                       argument, "shape " + shape_string(t.shape()),
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
    const std::int64_t M = next_power_of_two(L);
    const Vec<Cd> ct = C - left_power(C, lambda, P, Qc, M);
    std::vector<double> re(static_cast<std::size_t>(M)), im(re.size());
    generating_function(lambda, P, Qc, B, ct, M, re.data(), im.data());
    std::vector<double> work_re(re.size()), work_im(re.size());
    ColumnFft<double>(M).transform(re.data(), im.data(), 1, true, work_re.data(), work_im.data());
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
