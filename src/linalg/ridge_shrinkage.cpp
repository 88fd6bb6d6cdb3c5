#include "structseq/linalg/ridge_shrinkage.h"

#include "structseq/core/error.h"
#include "structseq/linalg/svd.h"

#include "blas.h"


#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <string_view>

namespace structseq {

Tensor ridge_shrinkage(const Tensor& X_in, double lam) {
    constexpr std::string_view where = "ridge_shrinkage";
    check_argument(X_in.dtype() == DType::F32 || X_in.dtype() == DType::F64, where, "X dtype",
                   dtype_name(X_in.dtype()), "float32 or float64");
    check_argument(X_in.rank() == 2, where, "X", "shape " + shape_string(X_in.shape()),
                   "(m features, n samples)");
    check_argument(std::isfinite(lam) && lam >= 0, where, "lam", fmt::format("{}", lam),
                   "a finite number >= 0");
    const std::int64_t m = X_in.dim(0);
    if (m == 0 || X_in.dim(1) == 0) return Tensor({m, m}, X_in.dtype());
    const SvdResult svd = full_svd(X_in);
    const std::int64_t k = svd.S.dim(0);
    Tensor W = Tensor::empty({m, m}, X_in.dtype());
    const auto run = [&]<class Real>(Real) {
        // W = (U diag(f)) Uᵀ with f = σ² / (σ² + λ).
        Tensor scaled = svd.U.clone();
        Real* us = scaled.data<Real>();
        const Real* s = svd.S.data<Real>();
        for (std::int64_t j = 0; j < k; ++j) {
            const double sigma2 = static_cast<double>(s[j]) * s[j];
            const double f = sigma2 > 0 ? sigma2 / (sigma2 + lam) : 0.0;
            for (std::int64_t i = 0; i < m; ++i) us[i * k + j] *= static_cast<Real>(f);
        }
        blas::gemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, m, k, Real(1), us, k,
                   svd.U.data<Real>(), k, Real(0), W.data<Real>(), m);
    };
    X_in.dtype() == DType::F32 ? run(0.0f) : run(0.0);
    return W;
}

std::optional<std::pair<double, double>> ridge_shrinkage_lambda_range(
    const std::vector<double>& sigmas, std::int64_t keep, double keep_at_least,
    double drop_at_most) {
    constexpr std::string_view where = "ridge_shrinkage_lambda_range";
    for (std::size_t i = 0; i < sigmas.size(); ++i) {
        check_argument(std::isfinite(sigmas[i]) && sigmas[i] >= 0, where,
                       fmt::format("sigmas[{}]", i), fmt::format("{}", sigmas[i]),
                       "a finite singular value >= 0");
    }
    const auto count = static_cast<std::int64_t>(sigmas.size());
    check_argument(keep >= 0 && keep <= count, where, "keep", std::to_string(keep),
                   fmt::format("0 <= keep <= len(sigmas) = {}", count));
    check_argument(keep_at_least > 0 && keep_at_least <= 1, where, "keep_at_least",
                   fmt::format("{}", keep_at_least), "a factor in (0, 1]");
    check_argument(drop_at_most > 0 && drop_at_most <= 1, where, "drop_at_most",
                   fmt::format("{}", drop_at_most), "a factor in (0, 1]");
    std::vector<double> sorted = sigmas;
    std::sort(sorted.begin(), sorted.end(), std::greater<>());
    const double inf = std::numeric_limits<double>::infinity();
    // (1/κ - 1) rather than (1 - κ)/κ: exact for the usual κ = 0.8, δ = 0.5.
    const double hi =
        keep > 0 ? sorted[keep - 1] * sorted[keep - 1] * (1 / keep_at_least - 1) : inf;
    const double lo =
        keep < count ? sorted[keep] * sorted[keep] * (1 / drop_at_most - 1) : 0.0;
    if (lo > hi) return std::nullopt;
    return std::pair{lo, hi};
}

}  // namespace structseq
