#include "structseq/bk/birman_schwinger_core.h"

#include "structseq/bk/semiseparable_features.h"
#include "structseq/core/cpu_dispatch.h"
#include "structseq/core/error.h"
#include "structseq/core/rng.h"

#include <bit>
#include <cmath>
#include <utility>
#include <string>
#include <string_view>

namespace structseq {

namespace {

constexpr std::string_view kWhere = "BirmanSchwingerCore";

void check_z(std::complex<double> z, std::string_view argument) {
    check_argument(std::isfinite(z.real()) && std::isfinite(z.imag()) && z.imag() != 0.0, kWhere,
                   argument, complex_string(z),
                   "a finite complex number with Im z != 0 (the resolvent of a real symmetric H "
                   "is singular on the real axis)");
}

Tensor vector_tensor(const std::vector<double>& values, DType dtype) {
    Tensor t({static_cast<std::int64_t>(values.size())}, DType::F64);
    std::copy(values.begin(), values.end(), t.data<double>());
    return t.to(dtype);
}

// a[r, i] = x[r, i] + h[i] for rows × n values (the main diagonal of H = H₀ + diag(v)).
// Compiled per CPU (core/cpu_dispatch.h): it runs over B·N values.
template <class Real>
STRUCTSEQ_ALWAYS_INLINE void add_potential_inline(const Real* x, const Real* h, std::int64_t rows,
                                                  std::int64_t n, Real* a) {
    for (std::int64_t r = 0; r < rows; ++r) {
#pragma omp simd
        for (std::int64_t i = 0; i < n; ++i) a[r * n + i] = x[r * n + i] + h[i];
    }
}

STRUCTSEQ_CPU_CLONES void add_potential(const double* x, const double* h, std::int64_t rows,
                                        std::int64_t n, double* a) {
    add_potential_inline(x, h, rows, n, a);
}
STRUCTSEQ_CPU_CLONES void add_potential(const float* x, const float* h, std::int64_t rows,
                                        std::int64_t n, float* a) {
    add_potential_inline(x, h, rows, n, a);
}

// Names the first inf/NaN of v (rows × n, compute precision), if any.
template <class Real>
void check_finite_potential(const Real* v, std::int64_t rows, std::int64_t n) {
    for (std::int64_t k = 0; k < rows * n; ++k) {
        if (!std::isfinite(v[k])) {
            fail("{}: v holds {} at row {}, position {}; expected finite values", kWhere, v[k],
                 k / n, k % n);
        }
    }
}

// `candidate` when it has the right shape and dtype and no one else holds its storage, else a
// new uninitialized tensor.
Tensor reuse_or_allocate(Tensor candidate, const Shape& shape, DType dtype) {
    if (candidate.defined() && candidate.shape() == shape && candidate.dtype() == dtype &&
        candidate.storage().use_count() == 1) {
        return candidate;
    }
    return Tensor::empty(shape, dtype);
}

// The complex (rows, N) tensor seen as real (…, N, 2) without a copy.
Tensor as_real_pairs(const Tensor& complex_values, Shape shape) {
    const DType real = complex_values.dtype() == DType::C128 ? DType::F64 : DType::F32;
    shape.push_back(2);
    return Tensor::borrow(complex_values.raw_data(), std::move(shape), real,
                          complex_values.storage());
}

}  // namespace

BirmanSchwingerCore::BirmanSchwingerCore(BirmanSchwingerOptions options)
    : options_(std::move(options)) {
    const std::int64_t n = options_.n_seq;
    check_argument(n >= 1, kWhere, "n_seq", std::to_string(n), "n_seq >= 1");
    check_z(options_.z, "z");
    check_argument(options_.dtype == DType::C128 || options_.dtype == DType::C64, kWhere, "dtype",
                   std::string(dtype_name(options_.dtype)), "complex128 or complex64");
    if (options_.main_diag.empty()) {
        check_argument(std::isfinite(options_.hopping), kWhere, "hopping",
                       fmt::format("{}", options_.hopping), "a finite number");
        options_.main_diag.assign(static_cast<std::size_t>(n), 2 * options_.hopping);
        options_.super_diag.assign(static_cast<std::size_t>(n - 1), -options_.hopping);
        options_.sub_diag = options_.super_diag;
    }
    const auto check_size = [&](const std::vector<double>& d, std::int64_t expected,
                                std::string_view name) {
        check_argument(static_cast<std::int64_t>(d.size()) == expected, kWhere, name,
                       fmt::format("of length {}", d.size()),
                       fmt::format("length {} for n_seq = {}", expected, n));
        for (double x : d) {
            check_argument(std::isfinite(x), kWhere, name, fmt::format("holding {}", x),
                           "finite values");
        }
    };
    check_size(options_.main_diag, n, "h0 main diagonal");
    check_size(options_.super_diag, n - 1, "h0 super-diagonal");
    check_size(options_.sub_diag, n - 1, "h0 sub-diagonal");
    const DType real = options_.dtype == DType::C128 ? DType::F64 : DType::F32;
    if (options_.use_semiseparable) {
        check_argument(options_.mode == BkMode::Bidirectional, kWhere, "mode",
                       "'causal' with use_semiseparable",
                       "'bidirectional' (a global low-rank term U·Vᵀ sees the future)");
        std::int64_t& rank = options_.semiseparable_rank;
        if (rank == 0) rank = std::max<std::int64_t>(1, std::bit_width(static_cast<std::uint64_t>(n - 1)));
        check_argument(rank >= 1 && rank <= n, kWhere, "semiseparable_rank", std::to_string(rank),
                       fmt::format("1 <= rank <= n_seq = {}", n));
        const double scale = 1.0 / std::sqrt(static_cast<double>(n));
        U_ = Rng(options_.seed, 0).normal({n, rank}, real, 0.0, scale);
        V_ = Rng(options_.seed, 1).normal({n, rank}, real, 0.0, scale);
        grad_U_ = Tensor({n, rank}, real);
        grad_V_ = Tensor({n, rank}, real);
    }
    h0_main_ = vector_tensor(options_.main_diag, real);
    h0_super_ = vector_tensor(options_.super_diag, real);
    h0_sub_ = vector_tensor(options_.sub_diag, real);
}

void BirmanSchwingerCore::zero_grad() {
    grad_z_ = 0.0;
    if (grad_U_.defined()) {
        grad_U_ = Tensor(grad_U_.shape(), grad_U_.dtype());
        grad_V_ = Tensor(grad_V_.shape(), grad_V_.dtype());
    }
}

void BirmanSchwingerCore::set_z(std::complex<double> z) {
    check_z(z, "z");
    options_.z = z;
}

Tensor BirmanSchwingerCore::forward(const Tensor& v, std::optional<std::complex<double>> z,
                                    BirmanSchwingerDiagnostics* diagnostics) {
    check_argument(v.dtype() == DType::F32 || v.dtype() == DType::F64, kWhere, "v dtype",
                   std::string(dtype_name(v.dtype())), "float32 or float64");
    if (!((v.rank() == 2 || v.rank() == 3) && v.dim(-1) == options_.n_seq)) {
        fail_argument(kWhere, "v", "shape " + shape_string(v.shape()),
                      fmt::format("(B, {0}) or (B, C, {0}) (n_seq = {0})", options_.n_seq));
    }
    if (z) check_z(*z, "z");
    const std::complex<double> shift = z.value_or(options_.z);
    return options_.dtype == DType::C128 ? run_forward<double>(v, shift, diagnostics)
                                         : run_forward<float>(v, shift, diagnostics);
}

template <class Real>
Tensor BirmanSchwingerCore::main_diagonal(const Tensor& v) const {
    Tensor main = Tensor::empty(v.shape(), dtype_of<Real>());
    add_potential(v.data<Real>(), h0_main_.data<Real>(), v.dim(0), v.dim(1), main.data<Real>());
    return main;
}

template <class Real>
TridiagonalRows<Real> BirmanSchwingerCore::h0_rows(const Tensor& main) const {
    const std::int64_t n = options_.n_seq;
    return {main.data<Real>(), h0_super_.data<Real>(), h0_sub_.data<Real>(), n, 0, 0,
            main.dim(0), n};
}

template <class Real>
Tensor BirmanSchwingerCore::run_forward(const Tensor& v_in, std::complex<double> z,
                                        BirmanSchwingerDiagnostics* diagnostics) {
    using C = std::complex<Real>;
    const std::int64_t n = options_.n_seq;
    const std::int64_t rows = v_in.numel() / n;
    // v in the compute precision is what backward keeps; the main diagonal H₀_ii + v_i is
    // formed on the fly by the kernel (the semiseparable mode materializes it).
    const Tensor v = v_in.to(dtype_of<Real>()).contiguous().reshape({rows, n});
    const Real* h = h0_main_.data<Real>();
    // A new forward supersedes what the last one saved; its feature buffer is reused when
    // nobody else holds it (a fresh multi-MiB buffer costs page faults on every call).
    saved_v_ = Tensor();
    Tensor f = reuse_or_allocate(std::exchange(saved_features_, Tensor()), {rows, n},
                                 options_.dtype);
    const C shift(static_cast<Real>(z.real()), static_cast<Real>(z.imag()));
    PivotStats stats;
    if (options_.use_semiseparable) {
        check_finite_potential(v.data<Real>(), rows, n);
        const Tensor main = main_diagonal<Real>(v);
        const TridiagonalRows<Real> tri = h0_rows<Real>(main);
        bk_semiseparable_forward(tri, U_.data<Real>(), V_.data<Real>(), U_.dim(1), shift,
                                 f.data<C>());
        stats.min_abs_pivot = NAN;  // the pivots are those of T, not of H
    } else {
        try {
            stats = bk_features_forward(h0_rows<Real>(v), shift, options_.mode, f.data<C>(), h);
        } catch (const Error&) {
            check_finite_potential(v.data<Real>(), rows, n);  // names an inf/NaN in v first
            throw;
        }
    }
    saved_v_ = v;
    // The semiseparable backward rebuilds its Woodbury pieces from v and never reads f.
    saved_features_ =
        options_.gradient_checkpointing || options_.use_semiseparable ? Tensor() : f;
    saved_shape_ = v_in.shape();
    saved_dtype_ = v_in.dtype();
    saved_z_ = z;
    constexpr std::size_t kHistoryLength = 1000;
    if (history_.size() == kHistoryLength) history_.erase(history_.begin());
    history_.push_back({rows, saved_bytes(), stats.min_abs_pivot});
    if (diagnostics != nullptr) {
        diagnostics->min_abs_pivot = stats.min_abs_pivot;
        diagnostics->memory_bytes = saved_bytes();
        diagnostics->dense_bytes =
            rows * n * n * static_cast<std::int64_t>(dtype_size(options_.dtype));
        diagnostics->memory_savings = 1.0 - static_cast<double>(diagnostics->memory_bytes) /
                                                static_cast<double>(diagnostics->dense_bytes);
        diagnostics->sequences = rows;
    }
    return as_real_pairs(f, saved_shape_);
}

Tensor BirmanSchwingerCore::backward(const Tensor& grad_features) {
    if (!saved_v_.defined()) {
        fail("{}: backward without a forward; each forward serves one backward", kWhere);
    }
    Shape expected = saved_shape_;
    expected.push_back(2);
    check_shape("BirmanSchwingerCore.backward", "grad_features", grad_features, expected);
    check_argument(grad_features.dtype() == DType::F32 || grad_features.dtype() == DType::F64,
                   "BirmanSchwingerCore.backward", "grad_features dtype",
                   std::string(dtype_name(grad_features.dtype())), "float32 or float64");
    Tensor grad_v = options_.dtype == DType::C128 ? run_backward<double>(grad_features)
                                                  : run_backward<float>(grad_features);
    saved_v_ = Tensor();
    saved_features_ = Tensor();
    return grad_v;
}

template <class Real>
Tensor BirmanSchwingerCore::run_backward(const Tensor& grad_features) {
    using C = std::complex<Real>;
    const std::int64_t n = options_.n_seq;
    const Tensor main = main_diagonal<Real>(saved_v_);
    const std::int64_t rows = main.dim(0);
    const TridiagonalRows<Real> tri = h0_rows<Real>(main);
    const C shift(static_cast<Real>(saved_z_.real()), static_cast<Real>(saved_z_.imag()));
    const Tensor g = grad_features.to(dtype_of<Real>()).contiguous();
    Tensor grad_v({rows, n}, dtype_of<Real>());
    std::complex<double> grad_z = 0.0;
    if (options_.use_semiseparable) {
        bk_semiseparable_backward(tri, U_.data<Real>(), V_.data<Real>(), U_.dim(1), shift,
                                  g.data<Real>(), grad_v.data<Real>(), grad_U_.data<Real>(),
                                  grad_V_.data<Real>(), &grad_z);
    } else {
        Tensor f = saved_features_;
        if (!f.defined()) {  // checkpointing: recompute the features
            f = Tensor::empty({rows, n}, options_.dtype);
            bk_features_forward(tri, shift, options_.mode, f.data<C>());
        }
        bk_features_backward(tri, shift, options_.mode, f.data<C>(), g.data<Real>(),
                             grad_v.data<Real>(), &grad_z);
    }
    grad_z_ += grad_z;
    return grad_v.to(saved_dtype_).reshape(saved_shape_);
}

BirmanSchwingerMemory BirmanSchwingerCore::estimate_memory(std::int64_t sequences,
                                                           bool checkpointing) const {
    check_argument(sequences >= 1, kWhere, "batch_size", std::to_string(sequences),
                   "batch_size >= 1 (sequences, B × C)");
    const std::int64_t n = options_.n_seq;
    const auto complex_size = static_cast<std::int64_t>(dtype_size(options_.dtype));
    const std::int64_t real_size = complex_size / 2;
    const std::int64_t rank = options_.use_semiseparable ? U_.dim(1) : 0;
    BirmanSchwingerMemory m;
    m.parameters = (3 * n - 2 + 2 * 2 * n * rank) * real_size;
    m.optimizer = 2 * 2 * n * rank * real_size;
    const std::int64_t rows = sequences * n;
    const bool keeps_features = !checkpointing && !options_.use_semiseparable;
    m.activations = rows * real_size + (keeps_features ? rows * complex_size : 0);
    // Input rows + features (the output) + grad_v, and the recomputed features of a
    // checkpointed bidirectional/causal backward.
    const bool recomputes = checkpointing && !options_.use_semiseparable;
    m.step_peak = rows * (2 * real_size + complex_size) + (recomputes ? rows * complex_size : 0);
    m.total = m.parameters + m.optimizer + m.step_peak;
    m.dense_bytes = sequences * n * n * complex_size;
    m.memory_savings =
        1.0 - static_cast<double>(m.step_peak) / static_cast<double>(m.dense_bytes);
    return m;
}

std::int64_t BirmanSchwingerCore::optimal_batch_size(std::int64_t available_bytes,
                                                     bool checkpointing,
                                                     double safety_factor) const {
    check_argument(safety_factor > 0 && safety_factor <= 1, kWhere, "safety_factor",
                   fmt::format("{}", safety_factor), "a number in (0, 1]");
    check_argument(available_bytes > 0, kWhere, "available_memory_bytes",
                   std::to_string(available_bytes), "a positive number of bytes");
    const double budget = safety_factor * static_cast<double>(available_bytes);
    const auto fits = [&](std::int64_t b) {
        return static_cast<double>(estimate_memory(b, checkpointing).total) <= budget;
    };
    if (!fits(1)) {
        fail("{}: even one sequence needs {} bytes, more than {} × {} available", kWhere,
             estimate_memory(1, checkpointing).total, safety_factor, available_bytes);
    }
    std::int64_t lo = 1, hi = 2;
    while (fits(hi) && hi < (std::int64_t{1} << 40)) {
        lo = hi;
        hi *= 2;
    }
    while (hi - lo > 1) {
        const std::int64_t mid = lo + (hi - lo) / 2;
        (fits(mid) ? lo : hi) = mid;
    }
    return lo;
}

std::int64_t BirmanSchwingerCore::saved_bytes() const {
    std::int64_t bytes = 0;
    if (saved_v_.defined()) bytes += static_cast<std::int64_t>(saved_v_.nbytes());
    if (saved_features_.defined()) bytes += static_cast<std::int64_t>(saved_features_.nbytes());
    return bytes;
}

}  // namespace structseq
