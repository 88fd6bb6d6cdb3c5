#include "structseq/linalg/tridiagonal.h"

#include "structseq/core/cpu_dispatch.h"
#include "structseq/core/error.h"
#include "structseq/core/lane_transpose.h"
#include "structseq/core/lane_vector.h"
#include "structseq/core/threads.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <string_view>

namespace structseq {

namespace {

template <class S>
struct RealOf {
    using type = S;
};
template <class R>
struct RealOf<std::complex<R>> {
    using type = R;
};

// LAPACK's CABS1: |re| + |im|, the modulus used to choose pivots.
template <class R>
R abs1(R x) {
    return std::abs(x);
}
template <class R>
R abs1(std::complex<R> x) {
    return std::abs(x.real()) + std::abs(x.imag());
}

template <class S>
bool is_finite(S x) {
    if constexpr (std::is_floating_point_v<S>) {
        return std::isfinite(x);
    } else {
        return std::isfinite(x.real()) && std::isfinite(x.imag());
    }
}

// The shape shared by a, b, c and the (…, N) operands: each carries the full batch or none.
struct TridiagonalLayout {
    Shape batch_shape;
    std::int64_t batch = 1;
    std::int64_t n = 0;
};

Shape batch_part(const Tensor& t) {
    Shape shape = t.shape();
    shape.pop_back();
    return shape;
}

TridiagonalLayout resolve_layout(std::string_view where, const Tensor& a, const Tensor& b,
                                 const Tensor& c, const Tensor* x, std::string_view x_name) {
    check_argument(a.rank() >= 1, where, "a", shape_string(a.shape()), "shape (..., N)");
    TridiagonalLayout layout;
    layout.n = a.dim(-1);
    check_argument(layout.n >= 1, where, "a", shape_string(a.shape()), "at least one entry");
    const std::int64_t off = layout.n - 1;
    struct Operand {
        std::string_view name;
        const Tensor* tensor;
        std::int64_t last;
    };
    std::vector<Operand> operands = {{"a", &a, layout.n}, {"b", &b, off}, {"c", &c, off}};
    if (x != nullptr) operands.push_back({x_name, x, layout.n});
    for (const Operand& op : operands) {
        const Tensor& t = *op.tensor;
        if (t.rank() < 1 || t.dim(-1) != op.last) {
            fail_argument(where, op.name, "shape " + shape_string(t.shape()),
                          fmt::format("last dimension {} (a has N = {})", op.last, layout.n));
        }
        Shape batch = batch_part(t);
        if (batch.empty()) continue;
        if (layout.batch_shape.empty()) {
            layout.batch_shape = batch;
        } else if (batch != layout.batch_shape) {
            fail_argument(where, op.name, "batch shape " + shape_string(batch),
                          "batch shape " + shape_string(layout.batch_shape) +
                              " (as the other operands) or none");
        }
    }
    layout.batch = shape_numel(layout.batch_shape);
    return layout;
}

void check_real_dtypes(std::string_view where, const Tensor& a, const Tensor& b, const Tensor& c) {
    check_argument(a.dtype() == DType::F32 || a.dtype() == DType::F64, where, "a dtype",
                   dtype_name(a.dtype()), "float32 or float64");
    for (const auto& [name, t] : {std::pair{"b", &b}, std::pair{"c", &c}}) {
        check_argument(t->dtype() == a.dtype(), where, std::string(name) + " dtype",
                       dtype_name(t->dtype()), std::string(dtype_name(a.dtype())) + " (as a)");
    }
}

template <class Real>
TridiagonalRows<Real> rows_of(const Tensor& a, const Tensor& b, const Tensor& c,
                              const TridiagonalLayout& layout) {
    TridiagonalRows<Real> rows;
    rows.main = a.data<Real>();
    rows.super = b.data<Real>();
    rows.sub = c.data<Real>();
    rows.main_stride = a.rank() > 1 ? layout.n : 0;
    rows.super_stride = b.rank() > 1 ? layout.n - 1 : 0;
    rows.sub_stride = c.rank() > 1 ? layout.n - 1 : 0;
    rows.batch = layout.batch;
    rows.n = layout.n;
    return rows;
}

Shape with_last(Shape batch, std::int64_t last) {
    batch.push_back(last);
    return batch;
}

// Complex shift in the working precision; a real S needs Im z = 0.
template <class S>
S shift_as(std::complex<double> z) {
    if constexpr (std::is_floating_point_v<S>) {
        return static_cast<S>(z.real());
    } else {
        using R = typename S::value_type;
        return S(static_cast<R>(z.real()), static_cast<R>(z.imag()));
    }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// LU with partial pivoting (LAPACK gttrf / gttrs, one right-hand side at a time).

template <class S>
template <class Real>
std::int64_t TridiagonalLU<S>::factor(std::int64_t n, const Real* main, const Real* super,
                                      const Real* sub, S shift) {
    lower_.assign(static_cast<std::size_t>(std::max<std::int64_t>(n - 1, 0)), S(0));
    diag_.resize(static_cast<std::size_t>(n));
    upper1_.resize(lower_.size());
    upper2_.assign(static_cast<std::size_t>(std::max<std::int64_t>(n - 2, 0)), S(0));
    swapped_.assign(lower_.size(), 0);
    for (std::int64_t i = 0; i < n; ++i) diag_[i] = S(main[i]) - shift;
    for (std::int64_t i = 0; i + 1 < n; ++i) {
        lower_[i] = S(sub[i]);
        upper1_[i] = S(super[i]);
    }
    for (std::int64_t i = 0; i + 1 < n; ++i) {
        if (abs1(diag_[i]) >= abs1(lower_[i])) {
            if (diag_[i] != S(0)) {
                const S fact = lower_[i] / diag_[i];
                lower_[i] = fact;
                diag_[i + 1] -= fact * upper1_[i];
            }
        } else {
            const S fact = diag_[i] / lower_[i];
            diag_[i] = lower_[i];
            lower_[i] = fact;
            const S temp = upper1_[i];
            upper1_[i] = diag_[i + 1];
            diag_[i + 1] = temp - fact * diag_[i + 1];
            if (i + 2 < n) {
                upper2_[i] = upper1_[i + 1];
                upper1_[i + 1] = -fact * upper1_[i + 1];
            }
            swapped_[i] = 1;
        }
    }
    for (std::int64_t i = 0; i < n; ++i) {
        if (diag_[i] == S(0)) return i;
    }
    return -1;
}

template <class S>
void TridiagonalLU<S>::solve(S* rhs) const {
    const std::int64_t n = size();
    for (std::int64_t i = 0; i + 1 < n; ++i) {
        if (!swapped_[i]) {
            rhs[i + 1] -= lower_[i] * rhs[i];
        } else {
            const S temp = rhs[i];
            rhs[i] = rhs[i + 1];
            rhs[i + 1] = temp - lower_[i] * rhs[i];
        }
    }
    rhs[n - 1] /= diag_[n - 1];
    if (n > 1) rhs[n - 2] = (rhs[n - 2] - upper1_[n - 2] * rhs[n - 1]) / diag_[n - 2];
    for (std::int64_t i = n - 3; i >= 0; --i) {
        rhs[i] = (rhs[i] - upper1_[i] * rhs[i + 1] - upper2_[i] * rhs[i + 2]) / diag_[i];
    }
}

template class TridiagonalLU<float>;
template class TridiagonalLU<double>;
template class TridiagonalLU<std::complex<float>>;
template class TridiagonalLU<std::complex<double>>;
template std::int64_t TridiagonalLU<float>::factor(std::int64_t, const float*, const float*,
                                                   const float*, float);
template std::int64_t TridiagonalLU<double>::factor(std::int64_t, const double*, const double*,
                                                    const double*, double);
template std::int64_t TridiagonalLU<std::complex<float>>::factor(std::int64_t, const float*,
                                                                 const float*, const float*,
                                                                 std::complex<float>);
template std::int64_t TridiagonalLU<std::complex<double>>::factor(std::int64_t, const double*,
                                                                  const double*, const double*,
                                                                  std::complex<double>);

// ---------------------------------------------------------------------------------------------
// Matvec: y_i = a_i x_i + b_i x_{i+1} + c_{i-1} x_{i-1}.

namespace {

template <class Real>
void matvec_rows(const TridiagonalRows<Real>& rows, const Real* x, Real* y) {
    const std::int64_t n = rows.n;
#pragma omp parallel for num_threads(num_threads()) schedule(static) if (rows.batch * n > 32768)
    for (std::int64_t r = 0; r < rows.batch; ++r) {
        const Real* a = rows.main_row(r);
        const Real* b = rows.super_row(r);
        const Real* c = rows.sub_row(r);
        const Real* xr = x + r * n;
        Real* yr = y + r * n;
        for (std::int64_t i = 0; i < n; ++i) yr[i] = a[i] * xr[i];
        for (std::int64_t i = 0; i + 1 < n; ++i) {
            yr[i] += b[i] * xr[i + 1];
            yr[i + 1] += c[i] * xr[i];
        }
    }
}

}  // namespace

Tensor tridiagonal_matvec(const Tensor& a_in, const Tensor& b_in, const Tensor& c_in,
                          const Tensor& x_in) {
    constexpr std::string_view where = "tridiagonal_matvec";
    check_real_dtypes(where, a_in, b_in, c_in);
    check_argument(x_in.dtype() == a_in.dtype(), where, "x dtype", dtype_name(x_in.dtype()),
                   std::string(dtype_name(a_in.dtype())) + " (as a)");
    const TridiagonalLayout layout = resolve_layout(where, a_in, b_in, c_in, &x_in, "x");
    const Tensor a = a_in.contiguous(), b = b_in.contiguous(), c = c_in.contiguous();
    // x without a batch is broadcast over the diagonals' batch.
    Tensor x = x_in.contiguous();
    Tensor y = Tensor::empty(with_last(layout.batch_shape, layout.n), a.dtype());
    const auto run = [&]<class Real>(Real) {
        TridiagonalRows<Real> rows = rows_of<Real>(a, b, c, layout);
        if (x.rank() > 1) {
            matvec_rows(rows, x.data<Real>(), y.data<Real>());
            return;
        }
        for (std::int64_t r = 0; r < layout.batch; ++r) {
            TridiagonalRows<Real> one = rows;
            one.main = rows.main_row(r);
            one.super = rows.super_row(r);
            one.sub = rows.sub_row(r);
            one.batch = 1;
            matvec_rows(one, x.data<Real>(), y.data<Real>() + r * layout.n);
        }
    };
    a.dtype() == DType::F32 ? run(0.0f) : run(0.0);
    return y;
}

// ---------------------------------------------------------------------------------------------
// Solve (T - zI) x = rhs.

namespace {

template <class Real, class S>
void solve_rows(std::string_view where, const TridiagonalRows<Real>& rows, S shift, const S* rhs,
                std::int64_t rhs_stride, S* out) {
    const std::int64_t n = rows.n;
    std::atomic<std::int64_t> failed_row{-1}, failed_pivot{-1};
    std::atomic<bool> overflow{false};
#pragma omp parallel num_threads(num_threads()) if (rows.batch > 1 && rows.batch * n > 16384)
    {
        TridiagonalLU<S> lu;
#pragma omp for schedule(static)
        for (std::int64_t r = 0; r < rows.batch; ++r) {
            if (failed_row.load() >= 0) continue;
            const std::int64_t pivot =
                lu.factor(n, rows.main_row(r), rows.super_row(r), rows.sub_row(r), shift);
            if (pivot >= 0) {
                std::int64_t expected = -1;
                if (failed_row.compare_exchange_strong(expected, r)) failed_pivot = pivot;
                continue;
            }
            S* x = out + r * n;
            std::copy(rhs + r * rhs_stride, rhs + r * rhs_stride + n, x);
            lu.solve(x);
            for (std::int64_t i = 0; i < n; ++i) {
                if (!is_finite(x[i])) overflow = true;
            }
        }
    }
    if (failed_row.load() >= 0) {
        fail("{}: T - zI is singular: pivot {} of row {} is exactly 0", where, failed_pivot.load(),
             failed_row.load());
    }
    if (overflow) {
        fail(
            "{}: the solution overflowed (T - zI is numerically singular, or rhs has "
            "inf/NaN)",
            where);
    }
}

}  // namespace

Tensor tridiagonal_solve(const Tensor& a_in, const Tensor& b_in, const Tensor& c_in,
                         const Tensor& rhs_in, std::complex<double> z) {
    constexpr std::string_view where = "tridiagonal_solve";
    check_real_dtypes(where, a_in, b_in, c_in);
    const bool single = a_in.dtype() == DType::F32;
    const DType complex_type = single ? DType::C64 : DType::C128;
    check_argument(rhs_in.dtype() == a_in.dtype() || rhs_in.dtype() == complex_type, where,
                   "rhs dtype", dtype_name(rhs_in.dtype()),
                   fmt::format("{} or {} (the precision of a)", dtype_name(a_in.dtype()),
                               dtype_name(complex_type)));
    check_finite_complex(where, "z", z);
    const TridiagonalLayout layout = resolve_layout(where, a_in, b_in, c_in, &rhs_in, "rhs");
    const Tensor a = a_in.contiguous(), b = b_in.contiguous(), c = c_in.contiguous();
    const bool complex_out = z.imag() != 0.0 || rhs_in.dtype() == complex_type;
    const DType out_type = complex_out ? complex_type : a.dtype();
    const Tensor rhs = rhs_in.to(out_type);
    Tensor out = Tensor::empty(with_last(layout.batch_shape, layout.n), out_type);
    const std::int64_t rhs_stride = rhs.rank() > 1 ? layout.n : 0;
    const auto run = [&]<class Real, class S>(Real, S) {
        solve_rows(where, rows_of<Real>(a, b, c, layout), shift_as<S>(z), rhs.data<S>(), rhs_stride,
                   out.data<S>());
    };
    if (single) {
        complex_out ? run(0.0f, std::complex<float>()) : run(0.0f, 0.0f);
    } else {
        complex_out ? run(0.0, std::complex<double>()) : run(0.0, 0.0);
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Resolvent diagonal, pivot form.

namespace {

// Forward pivots d_i of one row; returns the first index whose pivot is zero or not finite, or
// -1. Used for the O(1)-per-entry set-up and to name the culprit when the vector kernel fails.
template <class Real, class S>
std::int64_t forward_pivots(const TridiagonalRows<Real>& rows, std::int64_t r, S z, S* d) {
    const Real* a = rows.main_row(r);
    const Real* b = rows.super_row(r);
    const Real* c = rows.sub_row(r);
    for (std::int64_t i = 0; i < rows.n; ++i) {
        d[i] = S(a[i]) - z;
        if (i > 0) d[i] -= S(b[i - 1] * c[i - 1]) / d[i - 1];
        if (d[i] == S(0) || !is_finite(d[i])) return i;
    }
    return -1;
}

// Backward pivots e_i, same contract.
template <class Real, class S>
std::int64_t backward_pivots(const TridiagonalRows<Real>& rows, std::int64_t r, S z, S* e) {
    const Real* a = rows.main_row(r);
    const Real* b = rows.super_row(r);
    const Real* c = rows.sub_row(r);
    for (std::int64_t i = rows.n - 1; i >= 0; --i) {
        e[i] = S(a[i]) - z;
        if (i + 1 < rows.n) e[i] -= S(b[i] * c[i]) / e[i + 1];
        if (e[i] == S(0) || !is_finite(e[i])) return i;
    }
    return -1;
}

template <class Real>
[[noreturn]] void fail_pivot(std::string_view where, const TridiagonalRows<Real>& rows,
                             std::int64_t r, std::complex<Real> z) {
    std::vector<std::complex<double>> pivots(static_cast<std::size_t>(rows.n));
    const std::complex<double> zd(z.real(), z.imag());
    for (const bool forward : {true, false}) {
        const std::int64_t i = forward ? forward_pivots(rows, r, zd, pivots.data())
                                       : backward_pivots(rows, r, zd, pivots.data());
        if (i >= 0) {
            fail(
                "{}: {} pivot {}_{} of row {} is {}{:+}j (T - zI is singular or nearly so for "
                "z = {}{:+}j; pivots vanish for real z inside the spectrum or a non-symmetric "
                "T; take Im z != 0, or check the inputs for inf/NaN)",
                where, forward ? "forward" : "backward", forward ? 'd' : 'e', i, r,
                pivots[i].real(), pivots[i].imag(), z.real(), z.imag());
        }
    }
    fail("{}: row {} overflowed in {} precision (entries too large for |pivot|^2 to be finite)",
         where, r, sizeof(Real) == 4 ? "single" : "double");
}

// Lanes rows at once in structure-of-arrays form, lane-minor (x[i * Lanes + l]), so that every
// step of the recursion is one vector operation over the lanes and the latency of the serial
// chain is hidden. Per block: gather a into scratch (n, L) and b·c into (n - 1, L) — or (n - 1)
// when every lane shares b and c, the common case of one H₀ for the whole batch — forward sweep
// storing d in w (n, 2, L), backward sweep overwriting them with G (or, for the leading
// blocks' entries, 1/d in place), scatter to the rows of out.
template <class Real, int Lanes>
struct LaneBlock {
    const Real* a[Lanes];
    const Real* b[Lanes];
    const Real* c[Lanes];
    std::complex<Real>* out[Lanes];  // lanes past the batch repeat the last row (same values)
    bool shared_bc;                  // b[l] == b[0] and c[l] == c[0] for every lane
    const Real* main_shift;          // added to every lane's a, or null
};

template <class Real, int Lanes, bool SharedBc, bool Leading>
STRUCTSEQ_ALWAYS_INLINE void resolvent_lanes(const LaneBlock<Real, Lanes>& block, std::int64_t n,
                                             Real zr, Real zi, Real* scratch, Real* min_abs2_out,
                                             bool* failed_out) {
    using V = LaneVector<Real, Lanes>;
    // w holds position i at w + 2 i L: the lanes' Re then Im of d_i. The results go to the rows
    // a few positions at a time through LanePairSink.
    Real* w = scratch;
    Real* a = w + 2 * n * Lanes;
    Real* bc = a + n * Lanes;
    const auto re = [&](std::int64_t i) { return w + 2 * i * Lanes; };
    const auto im = [&](std::int64_t i) { return w + 2 * i * Lanes + Lanes; };
    gather_lanes<Lanes>(block.a, n, a, block.main_shift);
    const auto bc_at = [&](std::int64_t i) {
        if constexpr (SharedBc) {
            return V{} + bc[i];
        } else {
            return load_lanes<V>(bc + i * Lanes);
        }
    };
    if constexpr (SharedBc) {
        for (std::int64_t i = 0; i + 1 < n; ++i) bc[i] = block.b[0][i] * block.c[0][i];
    } else {
        constexpr std::int64_t kTile = 16;  // keeps the lane-minor side in L1
        for (std::int64_t i0 = 0; i0 + 1 < n; i0 += kTile) {
            const std::int64_t i1 = std::min(n - 1, i0 + kTile);
            for (int l = 0; l < Lanes; ++l) {
                const Real* bl = block.b[l];
                const Real* cl = block.c[l];
                for (std::int64_t i = i0; i < i1; ++i) bc[i * Lanes + l] = bl[i] * cl[i];
            }
        }
    }
    const V zrv = V{} + zr;
    const V ziv = V{} + zi;
    // Forward sweep: d_0 = a_0 - z, d_i = a_i - z - b c / d_{i-1}. A zero or infinite pivot
    // turns every later pivot into NaN (b c / 0 · 0, or 0 · inf), so checking the last one
    // suffices.
    V pr = load_lanes<V>(a) - zrv;
    V pi = -ziv;
    store_lanes(re(0), pr);
    store_lanes(im(0), pi);
    V lo = V{} + std::numeric_limits<Real>::infinity();
    for (std::int64_t i = 1; i < n; ++i) {
        const V m = pr * pr + pi * pi;  // |d_{i-1}|²
        lo = lane_min(lo, m);
        const V s = bc_at(i - 1) / m;                      // b c / |d|²
        pr = load_lanes<V>(a + i * Lanes) - zrv - s * pr;  // a - z - s · conj(d)
        pi = s * pi - ziv;
        store_lanes(re(i), pr);
        store_lanes(im(i), pi);
    }
    Real* out_rows[Lanes];
    for (int l = 0; l < Lanes; ++l) out_rows[l] = reinterpret_cast<Real*>(block.out[l]);
    LanePairSink<Real, Lanes> out(out_rows);
    constexpr std::int64_t span = LanePairSink<Real, Lanes>::kSpan;
    if constexpr (Leading) {
        // The leading blocks' last diagonal entries: 1 / d_i.
        const V last_d = pr * pr + pi * pi;
        lo = lane_min(lo, last_d);
        V check = V{};
        for (std::int64_t i = 0; i < n; ++i) {
            const V dr = load_lanes<V>(re(i)), di = load_lanes<V>(im(i));
            const V inv = 1 / (dr * dr + di * di);
            check += inv;
            out.put(i, dr * inv, -di * inv);
            if (i % span == span - 1 || i == n - 1) out.flush(i - i % span, i % span + 1);
        }
        bool failed = false;
        Real min_abs2 = std::numeric_limits<Real>::infinity();
        for (int l = 0; l < Lanes; ++l) {
            failed |= !std::isfinite(check[l]) || !(last_d[l] > 0);
            min_abs2 = std::min(min_abs2, lo[l]);
        }
        *failed_out = failed;
        *min_abs2_out = min_abs2;
    } else {
        // Backward sweep: e_{n-1} = a_{n-1} - z, G_{n-1} = 1 / d_{n-1}; then
        // G_i = 1 / (d_i - b_i c_i / e_{i+1}) and e_i = a_i - z - b_i c_i / e_{i+1}. `check` sums
        // every 1/|G|², so an infinite or NaN one shows there.
        const auto write = [&](std::int64_t i, V gr, V gi) {
            out.put(i, gr, gi);
            if (i % span == 0) {
                out.flush(i, std::min(span, n - i));
                if (i >= 8 * span) out.prefetch(i - 8 * span);
            }
        };
        const V last_d = pr * pr + pi * pi;
        lo = lane_min(lo, last_d);
        Real min_abs2 = std::numeric_limits<Real>::infinity();
        for (int l = 0; l < Lanes; ++l) min_abs2 = std::min(min_abs2, lo[l]);
        V check = 1 / last_d;
        write(n - 1, pr * check, -pi * check);
        V er = load_lanes<V>(a + (n - 1) * Lanes) - zrv;
        V ei = -ziv;
        for (std::int64_t i = n - 2; i >= 0; --i) {
            const V s = bc_at(i) / (er * er + ei * ei);
            const V qr = s * er;  // q = b c / e_{i+1}
            const V qi = -s * ei;
            const V xr = load_lanes<V>(re(i)) - qr;  // d_i - q
            const V xi = load_lanes<V>(im(i)) - qi;
            const V inv = 1 / (xr * xr + xi * xi);
            check += inv;
            write(i, xr * inv, -xi * inv);
            er = load_lanes<V>(a + i * Lanes) - zrv - qr;
            ei = -ziv - qi;
        }
        const V first_e = er * er + ei * ei;
        bool failed = false;
        for (int l = 0; l < Lanes; ++l) {
            failed |= !std::isfinite(check[l]) || !(first_e[l] > 0) ||
                      !(first_e[l] <= std::numeric_limits<Real>::max());
        }
        *failed_out = failed;
        *min_abs2_out = min_abs2;
    }
}

// Lane block widths: 16 doubles or 32 floats (two AVX-512 registers per quantity) for large
// batches, half that for batches of 8 to 15 (16 to 31) rows; fewer rows go one by one.
template <class Real, int Lanes>
STRUCTSEQ_ALWAYS_INLINE void dispatch_lanes(const LaneBlock<Real, Lanes>& block, std::int64_t n,
                                            Real zr, Real zi, bool leading, Real* scratch,
                                            Real* min_abs2, bool* failed) {
    if (block.shared_bc) {
        leading
            ? resolvent_lanes<Real, Lanes, true, true>(block, n, zr, zi, scratch, min_abs2, failed)
            : resolvent_lanes<Real, Lanes, true, false>(block, n, zr, zi, scratch, min_abs2,
                                                        failed);
    } else {
        leading
            ? resolvent_lanes<Real, Lanes, false, true>(block, n, zr, zi, scratch, min_abs2, failed)
            : resolvent_lanes<Real, Lanes, false, false>(block, n, zr, zi, scratch, min_abs2,
                                                         failed);
    }
}

STRUCTSEQ_CPU_CLONES
void resolvent_lanes_clone(const LaneBlock<double, 16>& block, std::int64_t n, double zr, double zi,
                           bool leading, double* scratch, double* min_abs2, bool* failed) {
    dispatch_lanes(block, n, zr, zi, leading, scratch, min_abs2, failed);
}

STRUCTSEQ_CPU_CLONES
void resolvent_lanes_clone(const LaneBlock<double, 8>& block, std::int64_t n, double zr, double zi,
                           bool leading, double* scratch, double* min_abs2, bool* failed) {
    dispatch_lanes(block, n, zr, zi, leading, scratch, min_abs2, failed);
}

STRUCTSEQ_CPU_CLONES
void resolvent_lanes_clone(const LaneBlock<float, 32>& block, std::int64_t n, float zr, float zi,
                           bool leading, float* scratch, float* min_abs2, bool* failed) {
    dispatch_lanes(block, n, zr, zi, leading, scratch, min_abs2, failed);
}

STRUCTSEQ_CPU_CLONES
void resolvent_lanes_clone(const LaneBlock<float, 16>& block, std::int64_t n, float zr, float zi,
                           bool leading, float* scratch, float* min_abs2, bool* failed) {
    dispatch_lanes(block, n, zr, zi, leading, scratch, min_abs2, failed);
}

template <class Real>
constexpr int wide_lanes() {
    return std::is_same_v<Real, double> ? 16 : 32;
}

// Scratch per block: up to four (n, Lanes) arrays, kept per thread between calls. Longer rows go
// through the one-row path, which keeps its pivots in the output and needs no scratch.
constexpr std::int64_t kMaxBlockScratchBytes = std::int64_t{64} << 20;

// One row, no scratch: the forward pivots are stored in `out` and overwritten by G (or by
// 1/d_i when `leading`). Same contract as resolvent_lanes.
template <class Real>
void resolvent_one_row(const TridiagonalRows<Real>& rows, std::int64_t r, std::complex<Real> z,
                       bool leading, std::complex<Real>* out, Real* min_abs2, bool* failed) {
    using C = std::complex<Real>;
    const Real* a = rows.main_row(r);
    const Real* b = rows.super_row(r);
    const Real* c = rows.sub_row(r);
    const std::int64_t n = rows.n;
    Real lo = std::numeric_limits<Real>::infinity();
    C d = C(a[0]) - z;
    out[0] = d;
    for (std::int64_t i = 1; i < n; ++i) {
        const Real m = std::norm(d);
        lo = m < lo ? m : lo;
        const Real s = b[i - 1] * c[i - 1] / m;
        d = C(a[i] - z.real() - s * d.real(), -z.imag() + s * d.imag());
        out[i] = d;
    }
    const Real last_d = std::norm(d);
    lo = last_d < lo ? last_d : lo;
    *min_abs2 = lo;
    if (leading) {
        Real check = 0;
        for (std::int64_t i = 0; i < n; ++i) {
            const Real inv = 1 / std::norm(out[i]);
            check += inv;
            out[i] = std::conj(out[i]) * inv;
        }
        *failed = !std::isfinite(check) || !(last_d > 0);
        return;
    }
    Real check = 1 / last_d;
    out[n - 1] = std::conj(d) * check;
    C e = C(a[n - 1]) - z;
    for (std::int64_t i = n - 2; i >= 0; --i) {
        const Real s = b[i] * c[i] / std::norm(e);
        const C q(s * e.real(), -s * e.imag());
        const C x = out[i] - q;
        const Real inv = 1 / std::norm(x);
        check += inv;
        out[i] = std::conj(x) * inv;
        e = C(a[i]) - z - q;
    }
    const Real first_e = std::norm(e);
    *failed =
        !std::isfinite(check) || !(first_e > 0) || !(first_e <= std::numeric_limits<Real>::max());
}

template <class Real>
bool all_finite(const std::complex<Real>* x, std::int64_t n) {
    bool ok = true;
    for (std::int64_t i = 0; i < n; ++i) ok &= std::isfinite(x[i].real() + x[i].imag());
    return ok;
}

}  // namespace

namespace {

// Every row of `rows` in blocks of Lanes (Lanes = 1: one by one). Returns the first row of a
// failing block, or -1, and the smallest |d|² met.
template <class Real, int Lanes>
std::int64_t resolvent_blocks(const TridiagonalRows<Real>& rows, const Real* main_shift,
                              std::complex<Real> z, bool leading, std::complex<Real>* out,
                              Real* min_abs2) {
    const std::int64_t n = rows.n;
    const std::int64_t blocks = (rows.batch + Lanes - 1) / Lanes;
    std::atomic<std::int64_t> bad_row{-1};
    Real lowest = std::numeric_limits<Real>::infinity();
#pragma omp parallel num_threads(num_threads()) if (blocks > 1 && rows.batch * n > 8192)
    {
        thread_local std::vector<Real> scratch;
        if (Lanes > 1 && scratch.size() < static_cast<std::size_t>(4 * n * Lanes)) {
            scratch.resize(static_cast<std::size_t>(4 * n * Lanes));
        }
        Real local_min = std::numeric_limits<Real>::infinity();
#pragma omp for schedule(static)
        for (std::int64_t blk = 0; blk < blocks; ++blk) {
            Real lo = std::numeric_limits<Real>::infinity();
            bool failed = false;
            const std::int64_t first = blk * Lanes;
            if constexpr (Lanes == 1) {
                resolvent_one_row(rows, first, z, leading, out + first * n, &lo, &failed);
            } else {
                LaneBlock<Real, Lanes> block;
                const std::int64_t count = std::min<std::int64_t>(Lanes, rows.batch - first);
                block.shared_bc = true;
                block.main_shift = main_shift;
                for (int l = 0; l < Lanes; ++l) {
                    const std::int64_t r = first + std::min<std::int64_t>(l, count - 1);
                    block.a[l] = rows.main_row(r);
                    block.b[l] = rows.super_row(r);
                    block.c[l] = rows.sub_row(r);
                    block.out[l] = out + r * n;
                    block.shared_bc &= block.b[l] == block.b[0] && block.c[l] == block.c[0];
                }
                resolvent_lanes_clone(block, n, z.real(), z.imag(), leading, scratch.data(), &lo,
                                      &failed);
            }
            if (failed) {
                std::int64_t expected = -1;
                bad_row.compare_exchange_strong(expected, first);
            }
            local_min = std::min(local_min, lo);
        }
#pragma omp critical
        lowest = std::min(lowest, local_min);
    }
    *min_abs2 = lowest;
    return bad_row.load();
}

// rows with main_shift added to every main diagonal, written to `storage`.
template <class Real>
TridiagonalRows<Real> shifted_rows(const TridiagonalRows<Real>& rows, const Real* main_shift,
                                   std::vector<Real>& storage) {
    const std::int64_t n = rows.n;
    storage.resize(static_cast<std::size_t>(rows.batch * n));
    for (std::int64_t r = 0; r < rows.batch; ++r) {
        const Real* a = rows.main_row(r);
        for (std::int64_t i = 0; i < n; ++i) storage[r * n + i] = a[i] + main_shift[i];
    }
    TridiagonalRows<Real> shifted = rows;
    shifted.main = storage.data();
    shifted.main_stride = n;
    return shifted;
}

template <class Real>
PivotStats resolvent_rows(std::string_view where, const TridiagonalRows<Real>& given,
                          const Real* main_shift, std::complex<Real> z, bool leading,
                          std::complex<Real>* out) {
    constexpr int wide = wide_lanes<Real>();
    const std::int64_t n = given.n;
    const auto fits = [&](int lanes) {
        return n * lanes * 4 * std::int64_t{sizeof(Real)} <= kMaxBlockScratchBytes;
    };
    const int lanes = given.batch >= wide && fits(wide)           ? wide
                      : given.batch >= wide / 2 && fits(wide / 2) ? wide / 2
                                                                  : 1;
    // Lane blocks add main_shift while they gather; the one-row path and the search for a
    // failing row read the sum from a materialized copy.
    std::vector<Real> shifted;
    const TridiagonalRows<Real> rows =
        main_shift != nullptr && lanes == 1 ? shifted_rows(given, main_shift, shifted) : given;
    const Real* shift = lanes == 1 ? nullptr : main_shift;
    Real lowest = 0;
    std::int64_t bad = -1;
    if (lanes == wide) {
        bad = resolvent_blocks<Real, wide>(rows, shift, z, leading, out, &lowest);
    } else if (lanes == wide / 2) {
        bad = resolvent_blocks<Real, wide / 2>(rows, shift, z, leading, out, &lowest);
    } else {
        bad = resolvent_blocks<Real, 1>(rows, nullptr, z, leading, out, &lowest);
    }
    if (bad >= 0) {
        // Find the failing row of the block in order and name the pivot.
        const TridiagonalRows<Real> plain =
            shift != nullptr ? shifted_rows(given, shift, shifted) : rows;
        const std::int64_t last = std::min(plain.batch, bad + lanes);
        const std::complex<double> zd(z.real(), z.imag());
        std::vector<std::complex<double>> p(static_cast<std::size_t>(n));
        for (std::int64_t r = bad; r < last; ++r) {
            if (forward_pivots(plain, r, zd, p.data()) >= 0 ||
                (!leading && backward_pivots(plain, r, zd, p.data()) >= 0) ||
                !all_finite(out + r * n, n)) {
                fail_pivot(where, plain, r, z);
            }
        }
        fail_pivot(where, plain, bad, z);
    }
    PivotStats stats;
    stats.min_abs_pivot = rows.batch > 0 ? std::sqrt(static_cast<double>(lowest)) : 0.0;
    return stats;
}

}  // namespace

template <class Real>
PivotStats tridiagonal_resolvent_diagonal_rows(const TridiagonalRows<Real>& rows,
                                               std::complex<Real> z, std::complex<Real>* out,
                                               const Real* main_shift) {
    return resolvent_rows("tridiagonal_resolvent_diagonal", rows, main_shift, z, false, out);
}

template <class Real>
PivotStats tridiagonal_leading_resolvent_rows(const TridiagonalRows<Real>& rows,
                                              std::complex<Real> z, std::complex<Real>* out,
                                              const Real* main_shift) {
    return resolvent_rows("tridiagonal_leading_resolvent", rows, main_shift, z, true, out);
}

template PivotStats tridiagonal_leading_resolvent_rows<float>(const TridiagonalRows<float>&, std::complex<float>,
    std::complex<float>*, const float*);
template PivotStats tridiagonal_leading_resolvent_rows<double>(const TridiagonalRows<double>&, std::complex<double>,
    std::complex<double>*, const double*);
template PivotStats tridiagonal_resolvent_diagonal_rows<float>(const TridiagonalRows<float>&, std::complex<float>,
    std::complex<float>*, const float*);
template PivotStats tridiagonal_resolvent_diagonal_rows<double>(const TridiagonalRows<double>&, std::complex<double>,
    std::complex<double>*, const double*);

Tensor tridiagonal_resolvent_diagonal(const Tensor& a_in, const Tensor& b_in, const Tensor& c_in,
                                      std::complex<double> z, PivotStats* stats) {
    constexpr std::string_view where = "tridiagonal_resolvent_diagonal";
    check_real_dtypes(where, a_in, b_in, c_in);
    check_finite_complex(where, "z", z);
    const TridiagonalLayout layout = resolve_layout(where, a_in, b_in, c_in, nullptr, "");
    const Tensor a = a_in.contiguous(), b = b_in.contiguous(), c = c_in.contiguous();
    const bool single = a.dtype() == DType::F32;
    Tensor out =
        Tensor::empty(with_last(layout.batch_shape, layout.n), single ? DType::C64 : DType::C128);
    PivotStats result;
    if (single) {
        result = tridiagonal_resolvent_diagonal_rows(rows_of<float>(a, b, c, layout),
                                                     shift_as<std::complex<float>>(z),
                                                     out.data<std::complex<float>>());
    } else {
        result = tridiagonal_resolvent_diagonal_rows(rows_of<double>(a, b, c, layout), z,
                                                     out.data<std::complex<double>>());
    }
    if (stats != nullptr) *stats = result;
    return out;
}

// ---------------------------------------------------------------------------------------------
// Resolvent entries.

namespace {

// Per row: G_jj, and prefix sums of log(-b_k / d_k) (upper) and log(-c_k / e_{k+1}) (lower),
// with prefix counts of zero off-diagonals. Sums stay in double even for float32 input: they
// grow like N and their differences must keep the precision of each factor.
struct EntryTables {
    std::vector<std::complex<double>> diag, upper_log, lower_log;
    std::vector<std::int64_t> upper_zeros, lower_zeros;

    std::complex<double> entry(std::int64_t i, std::int64_t j) const {
        if (i == j) return diag[j];
        if (i < j) {
            if (upper_zeros[j] != upper_zeros[i]) return 0.0;
            return diag[j] * std::exp(upper_log[j] - upper_log[i]);
        }
        if (lower_zeros[i] != lower_zeros[j]) return 0.0;
        return diag[j] * std::exp(lower_log[i] - lower_log[j]);
    }
};

template <class Real>
void build_entry_tables(std::string_view where, const TridiagonalRows<Real>& rows, std::int64_t r,
                        std::complex<Real> z, EntryTables& t) {
    using C = std::complex<double>;
    const std::int64_t n = rows.n;
    const C zd(z.real(), z.imag());
    std::vector<C> d(static_cast<std::size_t>(n)), e(static_cast<std::size_t>(n));
    if (forward_pivots(rows, r, zd, d.data()) >= 0 || backward_pivots(rows, r, zd, e.data()) >= 0) {
        fail_pivot(where, rows, r, z);
    }
    const Real* b = rows.super_row(r);
    const Real* c = rows.sub_row(r);
    t.diag.resize(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
        t.diag[i] =
            i + 1 < n ? 1.0 / (d[i] - static_cast<double>(b[i]) * c[i] / e[i + 1]) : 1.0 / d[i];
    }
    t.upper_log.assign(static_cast<std::size_t>(n), 0.0);
    t.lower_log.assign(static_cast<std::size_t>(n), 0.0);
    t.upper_zeros.assign(static_cast<std::size_t>(n), 0);
    t.lower_zeros.assign(static_cast<std::size_t>(n), 0);
    for (std::int64_t k = 0; k + 1 < n; ++k) {
        const bool b_zero = b[k] == 0;
        const bool c_zero = c[k] == 0;
        t.upper_log[k + 1] =
            t.upper_log[k] + (b_zero ? C(0) : std::log(-static_cast<double>(b[k]) / d[k]));
        t.lower_log[k + 1] =
            t.lower_log[k] + (c_zero ? C(0) : std::log(-static_cast<double>(c[k]) / e[k + 1]));
        t.upper_zeros[k + 1] = t.upper_zeros[k] + (b_zero ? 1 : 0);
        t.lower_zeros[k + 1] = t.lower_zeros[k] + (c_zero ? 1 : 0);
    }
}

}  // namespace

Tensor tridiagonal_resolvent_entries(const Tensor& a_in, const Tensor& b_in, const Tensor& c_in,
                                     std::complex<double> z, const Tensor& rows_in,
                                     const Tensor& cols_in) {
    constexpr std::string_view where = "tridiagonal_resolvent_entries";
    check_real_dtypes(where, a_in, b_in, c_in);
    check_finite_complex(where, "z", z);
    const TridiagonalLayout layout = resolve_layout(where, a_in, b_in, c_in, nullptr, "");
    for (const auto& [name, t] : {std::pair{"rows", &rows_in}, std::pair{"cols", &cols_in}}) {
        check_argument(t->dtype() == DType::I64 || t->dtype() == DType::I32, where,
                       std::string(name) + " dtype", dtype_name(t->dtype()), "int64 or int32");
        check_argument(t->rank() == 1, where, name, "shape " + shape_string(t->shape()),
                       "a 1-D array of indices");
    }
    check_argument(rows_in.dim(0) == cols_in.dim(0), where, "cols",
                   "shape " + shape_string(cols_in.shape()),
                   "shape " + shape_string(rows_in.shape()) + " (as rows)");
    const Tensor rows_index = rows_in.to(DType::I64), cols_index = cols_in.to(DType::I64);
    const std::int64_t count = rows_index.dim(0);
    const std::int64_t* ri = rows_index.data<std::int64_t>();
    const std::int64_t* ci = cols_index.data<std::int64_t>();
    for (std::int64_t k = 0; k < count; ++k) {
        for (const auto& [name, v] : {std::pair{"rows", ri[k]}, std::pair{"cols", ci[k]}}) {
            if (v < 0 || v >= layout.n) {
                fail_argument(where, fmt::format("{}[{}]", name, k), std::to_string(v),
                              fmt::format("an index in [0, {})", layout.n));
            }
        }
    }
    const Tensor a = a_in.contiguous(), b = b_in.contiguous(), c = c_in.contiguous();
    const bool single = a.dtype() == DType::F32;
    Tensor out =
        Tensor::empty(with_last(layout.batch_shape, count), single ? DType::C64 : DType::C128);
    const auto run = [&]<class Real>(Real) {
        const TridiagonalRows<Real> rows = rows_of<Real>(a, b, c, layout);
        using C = std::complex<Real>;
        C* o = out.data<C>();
        const C zr = shift_as<C>(z);
        std::exception_ptr error;
#pragma omp parallel num_threads(num_threads()) if (layout.batch > 1)
        {
            EntryTables tables;
#pragma omp for schedule(static)
            for (std::int64_t r = 0; r < layout.batch; ++r) {
                try {
                    build_entry_tables(where, rows, r, zr, tables);
                    for (std::int64_t k = 0; k < count; ++k) {
                        const std::complex<double> g = tables.entry(ri[k], ci[k]);
                        o[r * count + k] =
                            C(static_cast<Real>(g.real()), static_cast<Real>(g.imag()));
                    }
                } catch (...) {
#pragma omp critical
                    if (!error) error = std::current_exception();
                }
            }
        }
        if (error) std::rethrow_exception(error);
    };
    single ? run(0.0f) : run(0.0);
    return out;
}

}  // namespace structseq
