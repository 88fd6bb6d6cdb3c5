#include "structseq/ssm/linear_scan.h"

#include "ssm/eigen_tensor.h"
#include "structseq/core/cpu_dispatch.h"
#include "structseq/core/error.h"
#include "structseq/core/lane_vector.h"
#include "structseq/core/threads.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
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

// Eight float64 lanes: the state, running products and carries are float64 whatever the
// input precision, so float32 inputs lose nothing but the rounding of each stored h (a float32
// state drifts by ~1e-5 relative over 10⁶ steps of slow decay).
using Acc = LaneVector<double, 8>;
constexpr std::int64_t kLanes = 8;

// Eight lanes of row x (float32 or float64) as float64; `count` < 8 lanes leave the rest 0.
template <class Real>
STRUCTSEQ_ALWAYS_INLINE Acc load_acc(const Real* x, std::int64_t count) {
    if constexpr (std::is_same_v<Real, double>) {
        if (count == kLanes) return load_lanes<Acc>(x);
    } else {
        typedef float Float8 __attribute__((vector_size(32)));
        if (count == kLanes) return __builtin_convertvector(load_lanes<Float8>(x), Acc);
    }
    Acc v = {};
    for (std::int64_t k = 0; k < count; ++k) v[k] = static_cast<double>(x[k]);
    return v;
}

template <class Real>
STRUCTSEQ_ALWAYS_INLINE void store_acc(Real* x, Acc v, std::int64_t count) {
    if constexpr (std::is_same_v<Real, double>) {
        if (count == kLanes) return store_lanes(x, v);
    } else {
        typedef float Float8 __attribute__((vector_size(32)));
        if (count == kLanes) return store_lanes(x, __builtin_convertvector(v, Float8));
    }
    for (std::int64_t k = 0; k < count; ++k) x[k] = static_cast<Real>(v[k]);
}

// Below this a running product of a is treated as 0: what it would still add is below that
// times |carry|, and going on would compute with subnormal numbers, ~100× slower per step.
constexpr double kNegligible = 1e-300;

// Lanes [d0, d0 + 8G) of a row, G vectors of 8 (the last may be partial: `tail` lanes).
struct LaneGroup {
    std::int64_t d0, tail;
    std::int64_t count(int g, int G) const { return g + 1 == G ? tail : kLanes; }
};

// h_t = a_t h_{t−1} + b_t for t in [first, last) on G vectors of lanes whose states stay in
// registers (one pass over memory for D ≤ 8G). `state` (D float64 values) holds h_{first−1} on
// entry (ignored when `fresh`: h_first = b_first and a_first is not read) and h_{last−1} on
// return. Returns Σ h · 0, which is 0 unless some h is inf or NaN — as it is whenever an input
// is (the inputs are checked only then).
template <int G, class Real>
STRUCTSEQ_ALWAYS_INLINE double scan_group(Strided<const Real> a, Strided<const Real> b,
                                          Strided<Real> h, std::int64_t first, std::int64_t last,
                                          LaneGroup lanes, double* state, bool fresh) {
    Acc x[G], p[G];
    for (int g = 0; g < G; ++g) {
        x[g] = fresh ? Acc{} : load_acc(state + lanes.d0 + 8 * g, lanes.count(g, G));
        p[g] = Acc{};
    }
    for (std::int64_t t = first; t < last; ++t) {
        const bool start = fresh && t == first;
        for (int g = 0; g < G; ++g) {
            const std::int64_t d = lanes.d0 + 8 * g, count = lanes.count(g, G);
            const Acc bt = load_acc(b.at(t) + d, count);
            x[g] = start ? bt : load_acc(a.at(t) + d, count) * x[g] + bt;
            store_acc(h.at(t) + d, x[g], count);
            p[g] += x[g] * 0.0;
        }
    }
    double probe = 0;
    for (int g = 0; g < G; ++g) {
        if (last > first) store_acc(state + lanes.d0 + 8 * g, x[g], lanes.count(g, G));
        for (std::int64_t k = 0; k < kLanes; ++k) probe += p[g][k];
    }
    return probe;
}

// running ← running ⊙ a_t for t in [first, last) and, when h has a base, step (3):
// h_t += running ⊙ carry, on G vectors of lanes in registers. The group stops (running = 0)
// once all its products are negligible. Returns the probe of the h it wrote.
template <int G, class Real>
STRUCTSEQ_ALWAYS_INLINE double product_group(Strided<const Real> a, Strided<Real> h,
                                             const double* carry, std::int64_t first,
                                             std::int64_t last, LaneGroup lanes, double* running) {
    constexpr std::int64_t kCheck = 32;  // steps between the negligibility checks
    Acc r[G], c[G], p[G];
    for (int g = 0; g < G; ++g) {
        const std::int64_t d = lanes.d0 + 8 * g, count = lanes.count(g, G);
        r[g] = load_acc(running + d, count);
        c[g] = h.base != nullptr ? load_acc(carry + d, count) : Acc{};
        p[g] = Acc{};
    }
    for (std::int64_t t0 = first; t0 < last; t0 += kCheck) {
        const std::int64_t t1 = std::min(last, t0 + kCheck);
        for (std::int64_t t = t0; t < t1; ++t) {
            for (int g = 0; g < G; ++g) {
                const std::int64_t d = lanes.d0 + 8 * g, count = lanes.count(g, G);
                r[g] *= load_acc(a.at(t) + d, count);
                if (h.base != nullptr) {
                    const Acc ht = load_acc(h.at(t) + d, count) + r[g] * c[g];
                    store_acc(h.at(t) + d, ht, count);
                    p[g] += ht * 0.0;
                }
            }
        }
        double largest = 0;
        for (int g = 0; g < G; ++g) {
            for (std::int64_t k = 0; k < kLanes; ++k) {
                largest = std::max(largest, std::abs(r[g][k]));
            }
        }
        if (largest < kNegligible) {
            for (int g = 0; g < G; ++g) r[g] = Acc{};
            break;
        }
    }
    double probe = 0;
    for (int g = 0; g < G; ++g) {
        store_acc(running + lanes.d0 + 8 * g, r[g], lanes.count(g, G));
        for (std::int64_t k = 0; k < kLanes; ++k) probe += p[g][k];
    }
    return probe;
}

// Runs `group(G, lanes)` over D in groups of up to four vectors of 8 lanes.
template <class Group>
STRUCTSEQ_ALWAYS_INLINE double over_lane_groups(std::int64_t D, Group group) {
    constexpr std::int64_t kGroupLanes = 4 * kLanes;
    double probe = 0;
    for (std::int64_t d0 = 0; d0 < D; d0 += kGroupLanes) {
        const std::int64_t width = std::min(kGroupLanes, D - d0);
        const int vectors = static_cast<int>((width + kLanes - 1) / kLanes);
        const LaneGroup lanes{d0, width - (vectors - 1) * kLanes};
        switch (vectors) {
            case 1:
                probe += group(std::integral_constant<int, 1>{}, lanes);
                break;
            case 2:
                probe += group(std::integral_constant<int, 2>{}, lanes);
                break;
            case 3:
                probe += group(std::integral_constant<int, 3>{}, lanes);
                break;
            default:
                probe += group(std::integral_constant<int, 4>{}, lanes);
                break;
        }
    }
    return probe;
}

template <class Real>
STRUCTSEQ_CPU_CLONES double scan_range(Strided<const Real> a, Strided<const Real> b,
                                       Strided<Real> h, std::int64_t first, std::int64_t last,
                                       std::int64_t D, double* state, bool fresh) {
    return over_lane_groups(D, [&](auto G, LaneGroup lanes) {
        return scan_group<decltype(G)::value>(a, b, h, first, last, lanes, state, fresh);
    });
}

template <class Real>
STRUCTSEQ_CPU_CLONES double advance_product(Strided<const Real> a, Strided<Real> h,
                                            const double* carry, std::int64_t first,
                                            std::int64_t last, std::int64_t D, double* running) {
    return over_lane_groups(D, [&](auto G, LaneGroup lanes) {
        return product_group<decltype(G)::value>(a, h, carry, first, last, lanes, running);
    });
}

// The whole sequence from h0 (`init`, D values, or null for 0); false when some h is inf or NaN.
template <class Real>
bool scan_sequence(Strided<const Real> a, Strided<const Real> b, Strided<Real> h, std::int64_t L,
                   std::int64_t D, const Real* init, bool parallel) {
    const int threads = num_threads();
    const std::int64_t T = parallel ? std::min<std::int64_t>(threads, L / 1024) : 1;
    std::vector<double> start(static_cast<std::size_t>(D), 0.0);
    if (init != nullptr) std::copy(init, init + D, start.begin());
    const bool fresh = init == nullptr;
    if (T <= 1) return scan_range(a, b, h, 0, L, D, start.data(), fresh) == 0.0;
    double first_chunk_probe = 0;
    const auto chunk_start = [&](std::int64_t c) { return L * c / T; };
    const auto sub_start = [&](std::int64_t c, std::int64_t s) {
        const std::int64_t c0 = chunk_start(c), c1 = chunk_start(c + 1);
        return c0 + (c1 - c0) * s / T;
    };
    // products[(c · T + s) · D + d] = Π a over [chunk start, sub-block s start) of chunk c;
    // ends[c · D + d] = the chunk's own final state (from 0).
    std::vector<double> products(static_cast<std::size_t>(T * T * D), 1.0);
    std::vector<double> ends(static_cast<std::size_t>(T * D), 0.0);
    std::vector<double> carry(static_cast<std::size_t>(T * D), 0.0);
#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (std::int64_t c = 0; c < T; ++c) {
        double* end_state = ends.data() + c * D;
        if (c == 0) {
            std::copy(start.begin(), start.end(), end_state);
            first_chunk_probe = scan_range(a, b, h, 0, chunk_start(1), D, end_state, fresh);
            continue;
        }
        double* product = products.data() + c * T * D;
        for (std::int64_t s = 0; s < T; ++s) {
            const std::int64_t s0 = sub_start(c, s), s1 = sub_start(c, s + 1);
            scan_range(a, b, h, s0, s1, D, end_state, s == 0);
            if (s + 1 < T) {
                double* next = product + (s + 1) * D;
                std::copy(product + s * D, product + (s + 1) * D, next);
                advance_product<Real>(a, {nullptr, 0}, nullptr, s0, s1, D, next);
            }
        }
    }
    // Carries: the true state just before each chunk, carry_{c+1} = end_c + (Π_c a) carry_c.
    std::copy(ends.begin(), ends.begin() + D, carry.begin() + D);
    for (std::int64_t c = 2; c < T; ++c) {
        std::vector<double> total(products.begin() + ((c - 1) * T + T - 1) * D,
                                  products.begin() + ((c - 1) * T + T) * D);
        advance_product<Real>(a, {nullptr, 0}, nullptr, sub_start(c - 1, T - 1), chunk_start(c), D,
                              total.data());
        for (std::int64_t d = 0; d < D; ++d) {
            carry[static_cast<std::size_t>(c * D + d)] =
                ends[static_cast<std::size_t>((c - 1) * D + d)] +
                total[static_cast<std::size_t>(d)] *
                    carry[static_cast<std::size_t>((c - 1) * D + d)];
        }
    }
    // Chunks 1 … T−1 are final only after step (3), which probes them.
    double probe = first_chunk_probe;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : probe)
    for (std::int64_t job = 0; job < (T - 1) * T; ++job) {
        const std::int64_t c = 1 + job / T, s = job % T;
        std::vector<double> running(products.begin() + (c * T + s) * D,
                                    products.begin() + (c * T + s + 1) * D);
        probe += advance_product(a, h, carry.data() + c * D, sub_start(c, s), sub_start(c, s + 1),
                                 D, running.data());
    }
    return probe == 0.0;
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

}  // namespace

Tensor linear_scan(const Tensor& a_in, const Tensor& b_in, const Tensor& h0_in,
                   std::string_view method) {
    constexpr std::string_view where = "linear_scan";
    const Layout s = check_scan(where, a_in, b_in, h0_in);
    const bool parallel = is_parallel(where, method);
    const DType dtype = result_dtype({&a_in, &b_in, &h0_in}, false);
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
