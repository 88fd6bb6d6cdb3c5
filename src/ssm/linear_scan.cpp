#include "structseq/ssm/linear_scan.h"

#include "ssm/eigen_tensor.h"
#include "structseq/core/cpu_dispatch.h"
#include "structseq/core/error.h"
#include "structseq/core/lane_vector.h"
#include "structseq/core/threads.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace structseq {

namespace {

using namespace ssm_detail;

// Rows of D values at x + t · step (step = ±D).
template <class Real>
struct Strided {
    Real* base;
    std::int64_t step;
    Real* at(std::int64_t t) const { return base + t * step; }
};

// h_t = a_t h_{t−1} + b_t for t in [first, last), from `state` (null: start from b_first;
// a_first is read only when state is given). Returns Σ h · 0, which is 0 unless some h is inf
// or NaN — as it is whenever an input is (the inputs are checked only then).
template <class Real>
STRUCTSEQ_CPU_CLONES Real scan_range(Strided<const Real> a, Strided<const Real> b, Strided<Real> h,
                                     std::int64_t first, std::int64_t last, std::int64_t D,
                                     const Real* state) {
    Real probe = 0;
    const Real* previous = state;
    for (std::int64_t t = first; t < last; ++t) {
        const Real* at = a.at(t);
        const Real* bt = b.at(t);
        Real* ht = h.at(t);
        if (previous == nullptr) {
#pragma omp simd reduction(+ : probe)
            for (std::int64_t d = 0; d < D; ++d) {
                ht[d] = bt[d];
                probe += ht[d] * Real(0);
            }
        } else {
#pragma omp simd reduction(+ : probe)
            for (std::int64_t d = 0; d < D; ++d) {
                ht[d] = at[d] * previous[d] + bt[d];
                probe += ht[d] * Real(0);
            }
        }
        previous = ht;
    }
    return probe;
}

// Below this a running product of a is treated as 0: what it would still add is below that
// times |carry|, and going on would compute with subnormal numbers, ~100× slower per step.
template <class Real>
constexpr Real kNegligible = sizeof(Real) == 4 ? Real(1e-30) : Real(1e-300);

// running ← running ⊙ a_t for t in [first, last) and, when h has a base, step (3):
// h_t += running ⊙ carry. Lanes of 64 bytes keep `running` in registers; a block of lanes
// stops (running = 0) once all its products are negligible. Returns the probe of the h it
// wrote, as scan_range.
template <class Real>
STRUCTSEQ_CPU_CLONES Real advance_product(Strided<const Real> a, Strided<Real> h, const Real* carry,
                                          std::int64_t first, std::int64_t last, std::int64_t D,
                                          Real* running) {
    constexpr int W = 64 / sizeof(Real);
    using V = LaneVector<Real, W>;
    constexpr std::int64_t kCheck = 32;  // steps between the negligibility checks
    Real probe = 0;
    std::int64_t d0 = 0;
    for (; d0 + W <= D; d0 += W) {
        V r = load_lanes<V>(running + d0);
        const V c = h.base != nullptr ? load_lanes<V>(carry + d0) : V{};
        V p = {};
        for (std::int64_t t0 = first; t0 < last; t0 += kCheck) {
            const std::int64_t t1 = std::min(last, t0 + kCheck);
            for (std::int64_t t = t0; t < t1; ++t) {
                r *= load_lanes<V>(a.at(t) + d0);
                if (h.base != nullptr) {
                    const V ht = load_lanes<V>(h.at(t) + d0) + r * c;
                    store_lanes(h.at(t) + d0, ht);
                    p += ht * Real(0);
                }
            }
            Real largest = 0;
            for (int k = 0; k < W; ++k) largest = std::max(largest, std::abs(r[k]));
            if (largest < kNegligible<Real>) {
                r = V{};
                break;
            }
        }
        store_lanes(running + d0, r);
        for (int k = 0; k < W; ++k) probe += p[k];
    }
    for (std::int64_t d = d0; d < D; ++d) {
        Real r = running[d];
        for (std::int64_t t = first; t < last && r != Real(0); ++t) {
            r *= a.at(t)[d];
            if (std::abs(r) < kNegligible<Real>) r = 0;
            if (h.base != nullptr) {
                h.at(t)[d] += r * carry[d];
                probe += h.at(t)[d] * Real(0);
            }
        }
        running[d] = r;
    }
    return probe;
}

// The whole sequence; false when some h is inf or NaN.
template <class Real>
bool scan_sequence(Strided<const Real> a, Strided<const Real> b, Strided<Real> h, std::int64_t L,
                   std::int64_t D, const Real* init, bool parallel) {
    const int threads = num_threads();
    const std::int64_t T = parallel ? std::min<std::int64_t>(threads, L / 1024) : 1;
    if (T <= 1) return scan_range(a, b, h, 0, L, D, init) == Real(0);
    Real first_chunk_probe = 0;
    const auto chunk_start = [&](std::int64_t c) { return L * c / T; };
    const auto sub_start = [&](std::int64_t c, std::int64_t s) {
        const std::int64_t c0 = chunk_start(c), c1 = chunk_start(c + 1);
        return c0 + (c1 - c0) * s / T;
    };
    // products[(c · T + s) · D + d] = Π a over [chunk start, sub-block s start) of chunk c.
    std::vector<Real> products(static_cast<std::size_t>(T * T * D), Real(1));
    std::vector<Real> carry(static_cast<std::size_t>(T * D));
#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (std::int64_t c = 0; c < T; ++c) {
        if (c == 0) {
            first_chunk_probe = scan_range(a, b, h, 0, chunk_start(1), D, init);
            continue;
        }
        Real* product = products.data() + c * T * D;
        for (std::int64_t s = 0; s < T; ++s) {
            const std::int64_t s0 = sub_start(c, s), s1 = sub_start(c, s + 1);
            scan_range(a, b, h, s0, s1, D, s == 0 ? nullptr : h.at(s0 - 1));
            if (s + 1 < T) {
                Real* next = product + (s + 1) * D;
                std::copy(product + s * D, product + (s + 1) * D, next);
                advance_product<Real>(a, {nullptr, 0}, nullptr, s0, s1, D, next);
            }
        }
    }
    // Carries: the true h just before each chunk.
    std::copy(h.at(chunk_start(1) - 1), h.at(chunk_start(1) - 1) + D, carry.data() + D);
    for (std::int64_t c = 2; c < T; ++c) {
        const std::int64_t c1 = chunk_start(c);
        std::vector<Real> total(products.begin() + ((c - 1) * T + T - 1) * D,
                                products.begin() + ((c - 1) * T + T) * D);
        advance_product<Real>(a, {nullptr, 0}, nullptr, sub_start(c - 1, T - 1), c1, D,
                              total.data());
        for (std::int64_t d = 0; d < D; ++d) {
            carry[static_cast<std::size_t>(c * D + d)] =
                h.at(c1 - 1)[d] + total[static_cast<std::size_t>(d)] *
                                      carry[static_cast<std::size_t>((c - 1) * D + d)];
        }
    }
    // Chunks 1 … T−1 are final only after step (3), which probes them.
    Real probe = first_chunk_probe;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : probe)
    for (std::int64_t job = 0; job < (T - 1) * T; ++job) {
        const std::int64_t c = 1 + job / T, s = job % T;
        std::vector<Real> running(products.begin() + (c * T + s) * D,
                                  products.begin() + (c * T + s + 1) * D);
        probe += advance_product(a, h, carry.data() + c * D, sub_start(c, s), sub_start(c, s + 1),
                                 D, running.data());
    }
    return probe == Real(0);
}

struct Layout {
    std::int64_t batch, L, D;
};

Layout check_scan(std::string_view where, const Tensor& a, const Tensor& b, const Tensor& h0) {
    for (const auto& [t, name] : {std::pair{&a, "a"}, std::pair{&b, "b"}}) {
        check_argument(t->defined(), where, name, "missing", "an array");
        check_argument(t->dtype() == DType::F32 || t->dtype() == DType::F64, where, name,
                       "dtype " + std::string(dtype_name(t->dtype())), "float32 or float64");
    }
    check_argument(a.rank() == 3, where, "a", "shape " + shape_string(a.shape()), "(B, L, D)");
    check_argument(b.shape() == a.shape(), where, "b", "shape " + shape_string(b.shape()),
                   "the shape of a " + shape_string(a.shape()));
    const Layout layout{a.dim(0), a.dim(1), a.dim(2)};
    if (h0.defined()) {
        check_argument(h0.shape() == Shape{layout.batch, layout.D} &&
                           (h0.dtype() == DType::F32 || h0.dtype() == DType::F64),
                       where, "h0", "shape " + shape_string(h0.shape()),
                       fmt::format("a real ({}, {})", layout.batch, layout.D));
    }
    return layout;
}

// After a scan met inf or NaN: name the input that holds one, else report the overflow.
[[noreturn]] void fail_non_finite(
    std::string_view where, std::initializer_list<std::pair<const Tensor*, const char*>> inputs) {
    for (const auto& [t, name] : inputs) {
        if (t->defined()) check_numeric(*t, where, name);
    }
    fail(
        "{}: the recurrence overflowed (|h| grew past the floating-point range); scale a or b "
        "down, or use float64",
        where);
}

bool is_parallel(std::string_view where, std::string_view method) {
    check_argument(method == "sequential" || method == "parallel", where, "method",
                   fmt::format("\"{}\"", method), "\"sequential\" or \"parallel\"");
    return method == "parallel";
}

// False when some h is inf or NaN.
template <class Real>
bool forward_rows(const Layout& s, const Real* a, const Real* b, const Real* h0, Real* h,
                  bool parallel) {
    const std::int64_t row = s.L * s.D;
    bool finite = true;
    for (std::int64_t r = 0; r < s.batch; ++r) {
        finite &= scan_sequence<Real>({a + r * row, s.D}, {b + r * row, s.D}, {h + r * row, s.D},
                                      s.L, s.D, h0 != nullptr ? h0 + r * s.D : nullptr, parallel);
    }
    return finite;
}

DType common_dtype(const Tensor& a, const Tensor& b, const Tensor& h0) {
    return result_dtype({&a, &b, &h0}, false);
}

}  // namespace

Tensor linear_scan(const Tensor& a_in, const Tensor& b_in, const Tensor& h0_in,
                   std::string_view method) {
    constexpr std::string_view where = "linear_scan";
    const Layout s = check_scan(where, a_in, b_in, h0_in);
    const bool parallel = is_parallel(where, method);
    const DType dtype = common_dtype(a_in, b_in, h0_in);
    const Tensor a = a_in.contiguous().to(dtype), b = b_in.contiguous().to(dtype);
    const Tensor h0 = h0_in.defined() ? h0_in.contiguous().to(dtype) : Tensor();
    Tensor h = Tensor::empty(a.shape(), dtype);
    const auto run = [&](auto tag) {
        using Real = decltype(tag);
        return forward_rows<Real>(s, a.data<Real>(), b.data<Real>(),
                                  h0.defined() ? h0.data<Real>() : nullptr, h.data<Real>(),
                                  parallel);
    };
    if (!(dtype == DType::F32 ? run(float{}) : run(double{}))) {
        fail_non_finite(where, {{&a_in, "a"}, {&b_in, "b"}, {&h0_in, "h0"}});
    }
    return h;
}

LinearScanGradients linear_scan_backward(const Tensor& dh_in, const Tensor& a_in,
                                         const Tensor& b_in, const Tensor& h0_in,
                                         std::string_view method) {
    constexpr std::string_view where = "linear_scan_backward";
    const Layout s = check_scan(where, a_in, b_in, h0_in);
    check_argument(dh_in.defined() && dh_in.shape() == a_in.shape() &&
                       (dh_in.dtype() == DType::F32 || dh_in.dtype() == DType::F64),
                   where, "dh", "shape " + shape_string(dh_in.shape()),
                   "a real array shaped like a " + shape_string(a_in.shape()));
    const bool parallel = is_parallel(where, method);
    const DType dtype = result_dtype({&dh_in, &a_in, &b_in, &h0_in}, false);
    const Tensor a = a_in.contiguous().to(dtype), b = b_in.contiguous().to(dtype);
    const Tensor dh = dh_in.contiguous().to(dtype);
    const Tensor h0 = h0_in.defined() ? h0_in.contiguous().to(dtype) : Tensor();
    LinearScanGradients grads;
    grads.da = Tensor::empty(a.shape(), dtype);
    grads.db = Tensor::empty(a.shape(), dtype);
    if (h0.defined()) grads.dh0 = Tensor::empty(h0.shape(), dtype);
    const auto run = [&](auto tag) {
        using Real = decltype(tag);
        const std::int64_t L = s.L, D = s.D, row = L * D;
        Tensor h_tensor = Tensor::empty(a.shape(), dtype);
        Real* h = h_tensor.data<Real>();
        const Real* h0p = h0.defined() ? h0.data<Real>() : nullptr;
        bool finite = forward_rows<Real>(s, a.data<Real>(), b.data<Real>(), h0p, h, parallel);
        Real* g = grads.db.data<Real>();
        Real* da = grads.da.data<Real>();
        for (std::int64_t r = 0; r < s.batch; ++r) {
            const Real* ar = a.data<Real>() + r * row;
            // Reverse scan: index q ↔ time L − 1 − q, with a'_q = a_{t+1} (a'_0 never read).
            finite &=
                scan_sequence<Real>({ar + L * D, -D}, {dh.data<Real>() + r * row + (L - 1) * D, -D},
                                    {g + r * row + (L - 1) * D, -D}, L, D, nullptr, parallel);
            const Real* start = h0p != nullptr ? h0p + r * D : nullptr;
            for (std::int64_t t = 0; t < L; ++t) {
                const Real* previous = t > 0 ? h + r * row + (t - 1) * D : start;
                for (std::int64_t d = 0; d < D; ++d) {
                    da[r * row + t * D + d] =
                        previous != nullptr ? g[r * row + t * D + d] * previous[d] : Real(0);
                }
            }
            if (h0p != nullptr) {
                Real* dh0 = grads.dh0.data<Real>() + r * D;
                for (std::int64_t d = 0; d < D; ++d) dh0[d] = ar[d] * g[r * row + d];
            }
        }
        return finite;
    };
    if (!(dtype == DType::F32 ? run(float{}) : run(double{}))) {
        fail_non_finite(where, {{&dh_in, "dh"}, {&a_in, "a"}, {&b_in, "b"}, {&h0_in, "h0"}});
    }
    return grads;
}

}  // namespace structseq
