#include "structseq/linalg/semiseparable_factorization.h"

#include "structseq/core/error.h"
#include "structseq/core/log.h"
#include "structseq/core/rng.h"
#include "structseq/linalg/svd.h"

#include "blas.h"


#include <algorithm>
#include <bit>
#include <cmath>
#include <string_view>
#include <vector>

namespace structseq {

namespace {

constexpr std::string_view kWhere = "create_semiseparable_from_dense";

// One alternating fit at a fixed rank on the row-major N × N matrix h.
template <class Real>
class AlternatingFit {
public:
    AlternatingFit(std::int64_t n, const Real* h, const SemiseparableFitOptions& options)
        : n_(n), h_(h), options_(options) {
        double norm = 0;
        for (std::int64_t i = 0; i < n * n; ++i) norm += static_cast<double>(h[i]) * h[i];
        norm_ = std::sqrt(norm);
    }

    double norm() const { return norm_; }

    // Runs until max_iter or tol; when stop_at is set, also when the relative error reaches
    // stop_at or improves by less than 0.1 % in an iteration.
    SemiseparableMatrix run(std::int64_t rank, std::optional<double> stop_at,
                            SemiseparableFitReport& report, bool exact_svd = false) const {
        const std::int64_t n = n_;
        const DType dtype = dtype_of<Real>();
        std::vector<Real> low(static_cast<std::size_t>(n * n), Real(0));  // U Vᵀ
        std::vector<Real> rest(low.size());                                // H - T
        Tensor main({n}, dtype), super({n - 1}, dtype), sub({n - 1}, dtype);
        Tensor U({n, rank}, dtype), V({n, rank}, dtype);
        std::vector<Real> u(static_cast<std::size_t>(n * rank)), s(static_cast<std::size_t>(rank)),
            vh(static_cast<std::size_t>(rank * n));
        Tensor omega;
        const bool randomized = options_.method == "rsvd" && !exact_svd;
        if (randomized) omega = Rng(options_.seed).normal({rank + kOversampling, n}, dtype);
        report = SemiseparableFitReport{};
        report.rank = rank;
        double previous = INFINITY;
        for (std::int64_t it = 0; it < options_.max_iter; ++it) {
            // T ← band(H - U Vᵀ); rest = H - T.
            Real* a = main.data<Real>();
            Real* b = super.data<Real>();
            Real* c = sub.data<Real>();
            std::copy_n(h_, n * n, rest.data());
            for (std::int64_t i = 0; i < n; ++i) {
                a[i] = h_[i * n + i] - low[i * n + i];
                rest[i * n + i] -= a[i];
                if (i + 1 < n) {
                    b[i] = h_[i * n + i + 1] - low[i * n + i + 1];
                    c[i] = h_[(i + 1) * n + i] - low[(i + 1) * n + i];
                    rest[i * n + i + 1] -= b[i];
                    rest[(i + 1) * n + i] -= c[i];
                }
            }
            // U Vᵀ ← best rank-r approximation of rest.
            best_rank(rest.data(), rank, randomized ? &omega : nullptr, u.data(), s.data(),
                      vh.data());
            Real* Ud = U.data<Real>();
            Real* Vd = V.data<Real>();
            for (std::int64_t p = 0; p < rank; ++p) {
                const Real root = std::sqrt(std::max(s[p], Real(0)));
                for (std::int64_t i = 0; i < n; ++i) {
                    Ud[i * rank + p] = u[i * rank + p] * root;
                    Vd[i * rank + p] = vh[p * n + i] * root;
                }
            }
            multiply_low_rank(Ud, Vd, rank, low.data());
            double error = 0;
            for (std::int64_t i = 0; i < n * n; ++i) {
                const double e = static_cast<double>(rest[i]) - low[i];
                error += e * e;
            }
            const double relative = norm_ > 0 ? std::sqrt(error) / norm_ : 0.0;
            report.history.push_back(relative);
            report.iterations = it + 1;
            report.relative_error = relative;
            log::debug("{}: rank {} iteration {}: relative error {:.3e}", kWhere, rank, it + 1,
                       relative);
            if (relative <= options_.tol || previous - relative <= options_.tol) break;
            if (stop_at && (relative <= *stop_at || previous - relative < 1e-3 * relative)) break;
            previous = relative;
        }
        return SemiseparableMatrix(main, super, sub, U, V);
    }

    // Relative error of the one-shot fit (T = band(H), then the SVD of the rest) for every
    // rank 0 … N: sqrt of the tail sums of the squared singular values of H - band(H).
    std::vector<double> one_shot_errors() const {
        const std::int64_t n = n_;
        std::vector<Real> rest(h_, h_ + n * n);
        for (std::int64_t i = 0; i < n; ++i) {
            for (std::int64_t j = std::max<std::int64_t>(0, i - 1); j <= std::min(n - 1, i + 1);
                 ++j) {
                rest[i * n + j] = 0;
            }
        }
        std::vector<Real> u(static_cast<std::size_t>(n * n)), s(static_cast<std::size_t>(n)),
            vh(u.size());
        full_svd_matrix<Real>(n, n, rest.data(), u.data(), s.data(), vh.data());
        std::vector<double> errors(static_cast<std::size_t>(n + 1), 0.0);
        for (std::int64_t r = n - 1; r >= 0; --r) {
            errors[r] = errors[r + 1] + static_cast<double>(s[r]) * s[r];
        }
        for (double& e : errors) e = norm_ > 0 ? std::sqrt(e) / norm_ : 0.0;
        return errors;
    }

private:
    static constexpr std::int64_t kOversampling = 5;

    // Best rank-r factors of rest: randomized when omega (the sketch) is given, else LAPACK.
    void best_rank(const Real* rest, std::int64_t rank, const Tensor* omega, Real* u, Real* s,
                   Real* vh) const {
        const std::int64_t n = n_;
        if (omega != nullptr) {
            randomized_svd_matrix<Real>(n, n, rest, rank, 2, kOversampling, omega->data<Real>(),
                                        u, s, vh);
            return;
        }
        std::vector<Real> fu(static_cast<std::size_t>(n * n)), fs(static_cast<std::size_t>(n)),
            fvh(fu.size());
        full_svd_matrix<Real>(n, n, rest, fu.data(), fs.data(), fvh.data());
        for (std::int64_t i = 0; i < n; ++i) std::copy_n(&fu[i * n], rank, u + i * rank);
        std::copy_n(fs.data(), rank, s);
        std::copy_n(fvh.data(), rank * n, vh);
    }

    void multiply_low_rank(const Real* U, const Real* V, std::int64_t rank, Real* out) const {
        blas::gemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_, n_, rank, Real(1), U, rank, V,
                   rank, Real(0), out, n_);
    }

    std::int64_t n_;
    const Real* h_;
    const SemiseparableFitOptions& options_;
    double norm_ = 0;
};

void check_options(const SemiseparableFitOptions& o, std::int64_t n) {
    if (o.rank) {
        check_argument(*o.rank >= 1 && *o.rank <= n, kWhere, "rank", std::to_string(*o.rank),
                       fmt::format("1 <= rank <= N = {}", n));
    }
    if (o.target_error) {
        check_argument(*o.target_error >= 0 && std::isfinite(*o.target_error), kWhere,
                       "target_error", fmt::format("{}", *o.target_error),
                       "a finite number >= 0 (a relative Frobenius error)");
    }
    check_argument(o.method == "svd" || o.method == "rsvd", kWhere, "method",
                   "'" + o.method + "'", "'svd' or 'rsvd'");
    check_argument(o.max_iter >= 1, kWhere, "max_iter", std::to_string(o.max_iter),
                   "max_iter >= 1");
    check_argument(o.tol >= 0 && std::isfinite(o.tol), kWhere, "tol", fmt::format("{}", o.tol),
                   "a finite number >= 0");
}

template <class Real>
SemiseparableMatrix fit(const Tensor& H, const SemiseparableFitOptions& options,
                        SemiseparableFitReport& report) {
    const std::int64_t n = H.dim(0);
    const Real* h = H.data<Real>();
    for (std::int64_t i = 0; i < n * n; ++i) {
        if (!std::isfinite(h[i])) {
            fail("{}: H[{}, {}] is {}; expected finite values", kWhere, i / n, i % n, h[i]);
        }
    }
    const AlternatingFit<Real> fitter(n, h, options);
    if (!options.target_error) {
        const std::int64_t rank =
            options.rank.value_or(std::clamp<std::int64_t>(std::bit_width(static_cast<std::uint64_t>(n - 1)), 1, n));
        return fitter.run(rank, std::nullopt, report);
    }
    const double target = *options.target_error;
    const std::int64_t cap = options.rank.value_or(n);
    // The one-shot fit is the first iteration of every alternating fit and later iterations
    // only lower the error, so the smallest rank whose one-shot error (with an exact SVD)
    // reaches the target bounds the search. Alternation converges fast at the rank of the
    // structure and slowly above it, so small ranks are tried one by one (a bisection would
    // overshoot them); past kLinearRanks, where no small structure was found, ranks double and
    // the crossing is bisected. A fit that stops improving (less than 0.1 % per iteration)
    // above the target is abandoned.
    constexpr std::int64_t kLinearRanks = 16;
    const std::vector<double> one_shot = fitter.one_shot_errors();
    std::int64_t bound = 1;
    while (bound < cap && one_shot[bound] > target) ++bound;
    std::optional<SemiseparableMatrix> best;
    const auto passes = [&](std::int64_t rank) {
        SemiseparableFitReport r;
        // At the bound the exact SVD is used, whose one-shot step alone reaches the target.
        SemiseparableMatrix m = fitter.run(rank, target, r, rank == bound);
        log::debug("{}: rank {} reaches relative error {:.3e} (target {})", kWhere, rank,
                   r.relative_error, target);
        if (r.relative_error > target) {
            if (rank == bound) {
                fail("{}: target_error {} is not reached at rank {} (relative error {:.4g}); "
                     "raise rank or the target",
                     kWhere, target, rank, r.relative_error);
            }
            return false;
        }
        best.emplace(std::move(m));
        report = r;
        return true;
    };
    std::int64_t lo = 0, hi = 0;  // lo misses the target, hi reaches it
    for (std::int64_t rank = 1; rank <= std::min(bound, kLinearRanks) && hi == 0; ++rank) {
        if (passes(rank)) {
            hi = rank;
        } else {
            lo = rank;
        }
    }
    for (std::int64_t rank = 2 * kLinearRanks; hi == 0; rank = std::min(2 * rank, bound)) {
        if (passes(std::min(rank, bound))) {
            hi = std::min(rank, bound);
        } else {
            lo = rank;
        }
    }
    while (hi - lo > 1) {
        const std::int64_t mid = lo + (hi - lo) / 2;
        if (passes(mid)) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    return std::move(*best);
}

}  // namespace

SemiseparableMatrix create_semiseparable_from_dense(const Tensor& H_in,
                                                    const SemiseparableFitOptions& options,
                                                    SemiseparableFitReport* report) {
    check_argument(H_in.dtype() == DType::F32 || H_in.dtype() == DType::F64, kWhere, "H dtype",
                   dtype_name(H_in.dtype()), "float32 or float64");
    check_argument(H_in.rank() == 2 && H_in.dim(0) == H_in.dim(1) && H_in.dim(0) >= 1, kWhere,
                   "H", "shape " + shape_string(H_in.shape()), "a square (N, N) matrix, N >= 1");
    check_options(options, H_in.dim(0));
    const Tensor H = H_in.contiguous();
    SemiseparableFitReport local;
    SemiseparableFitReport& out = report != nullptr ? *report : local;
    if (H.dtype() == DType::F32) return fit<float>(H, options, out);
    return fit<double>(H, options, out);
}

}  // namespace structseq
