#include "structseq/linalg/low_rank_update.h"

#include "structseq/core/error.h"

#include <Eigen/Dense>

#include <cmath>
#include <limits>
#include <string>
#include <string_view>

namespace structseq {

namespace {

template <class Real>
using RowMatrix = Eigen::Matrix<Real, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <class Real>
Eigen::Map<const RowMatrix<Real>> view(const Tensor& t, std::int64_t rows, std::int64_t cols) {
    return {t.data<Real>(), rows, cols};
}

void check_same_dtype(std::string_view where, const Tensor& first, std::string_view first_name,
                      std::initializer_list<std::pair<const char*, const Tensor*>> others) {
    check_argument(first.dtype() == DType::F32 || first.dtype() == DType::F64, where,
                   std::string(first_name) + " dtype", dtype_name(first.dtype()),
                   "float32 or float64");
    for (const auto& [name, t] : others) {
        check_argument(t->dtype() == first.dtype(), where, std::string(name) + " dtype",
                       dtype_name(t->dtype()),
                       fmt::format("{} (as {})", dtype_name(first.dtype()), first_name));
    }
}

template <class Real>
void check_finite_result(std::string_view where, const RowMatrix<Real>& out) {
    if (!out.allFinite()) {
        fail("{}: the result is not finite (the inputs hold inf/NaN or the update is singular)",
             where);
    }
}

}  // namespace

Tensor sherman_morrison_update(const Tensor& Minv_in, const Tensor& u_in, const Tensor& v_in) {
    constexpr std::string_view where = "sherman_morrison_update";
    check_same_dtype(where, Minv_in, "Minv", {{"u", &u_in}, {"v", &v_in}});
    check_argument(Minv_in.rank() == 2 && Minv_in.dim(0) == Minv_in.dim(1), where, "Minv",
                   "shape " + shape_string(Minv_in.shape()), "a square (n, n) matrix");
    const std::int64_t n = Minv_in.dim(0);
    // Column or row vectors, (n, 1) or (1, n), are taken as (n,).
    const auto as_vector = [&](const Tensor& t, std::string_view name) {
        if (t.rank() == 2 && t.numel() == n && (t.dim(0) == 1 || t.dim(1) == 1)) {
            return t.contiguous().reshape({n});
        }
        check_shape(where, name, t, {n});
        return t.contiguous();
    };
    const Tensor Minv = Minv_in.contiguous(), u = as_vector(u_in, "u"), v = as_vector(v_in, "v");
    Tensor out = Tensor::empty({n, n}, Minv.dtype());
    const auto run = [&]<class Real>(Real) {
        using Vector = Eigen::Matrix<Real, Eigen::Dynamic, 1>;
        const auto M = view<Real>(Minv, n, n);
        const Eigen::Map<const Vector> uu(u.data<Real>(), n), vv(v.data<Real>(), n);
        const Vector Mu = M * uu;                   // M⁻¹ u
        const Vector vM = M.transpose() * vv;       // (vᵀ M⁻¹)ᵀ
        const Real denominator = Real(1) + vv.dot(Mu);
        const Real scale = Real(1) + std::abs(vv.dot(Mu));
        if (!(std::abs(denominator) > 8 * std::numeric_limits<Real>::epsilon() * scale)) {
            fail("{}: M + u vᵀ is singular: 1 + vᵀ M⁻¹ u = {:.3g}", where, denominator);
        }
        RowMatrix<Real> result = M - (Mu * vM.transpose()) / denominator;
        check_finite_result<Real>(where, result);
        Eigen::Map<RowMatrix<Real>>(out.data<Real>(), n, n) = result;
    };
    Minv.dtype() == DType::F32 ? run(0.0f) : run(0.0);
    return out;
}

Tensor woodbury_inverse(const Tensor& Ainv_in, const Tensor& U_in, const Tensor& C_in,
                        const Tensor& V_in) {
    constexpr std::string_view where = "woodbury_inverse";
    check_same_dtype(where, Ainv_in, "Ainv", {{"U", &U_in}, {"C", &C_in}, {"V", &V_in}});
    check_argument(Ainv_in.rank() == 2 && Ainv_in.dim(0) == Ainv_in.dim(1), where, "Ainv",
                   "shape " + shape_string(Ainv_in.shape()), "a square (n, n) matrix");
    const std::int64_t n = Ainv_in.dim(0);
    check_argument(U_in.rank() == 2 && U_in.dim(0) == n, where, "U",
                   "shape " + shape_string(U_in.shape()), fmt::format("({}, k)", n));
    const std::int64_t k = U_in.dim(1);
    check_shape(where, "C", C_in, {k, k});
    check_shape(where, "V", V_in, {k, n});
    const Tensor Ainv = Ainv_in.contiguous(), U = U_in.contiguous(), C = C_in.contiguous(),
                 V = V_in.contiguous();
    Tensor out = Tensor::empty({n, n}, Ainv.dtype());
    const auto run = [&]<class Real>(Real) {
        const auto A = view<Real>(Ainv, n, n);
        const RowMatrix<Real> AU = A * view<Real>(U, n, k);        // A⁻¹ U   (n, k)
        const RowMatrix<Real> VA = view<Real>(V, k, n) * A;        // V A⁻¹   (k, n)
        const RowMatrix<Real> AUC = AU * view<Real>(C, k, k);      // A⁻¹ U C (n, k)
        RowMatrix<Real> inner = view<Real>(V, k, n) * AUC;         // V A⁻¹ U C
        inner += RowMatrix<Real>::Identity(k, k);
        const Eigen::PartialPivLU<RowMatrix<Real>> lu(inner);
        if (k > 0 && !(lu.rcond() > 4 * std::numeric_limits<Real>::epsilon())) {
            fail("{}: I + V A⁻¹ U C is singular (reciprocal condition number {:.3g}), so "
                 "A + U C V is",
                 where, static_cast<double>(lu.rcond()));
        }
        RowMatrix<Real> result = A - AUC * lu.solve(VA);
        check_finite_result<Real>(where, result);
        Eigen::Map<RowMatrix<Real>>(out.data<Real>(), n, n) = result;
    };
    Ainv.dtype() == DType::F32 ? run(0.0f) : run(0.0);
    return out;
}

}  // namespace structseq
