#include "structseq/ssm/selective_scan.h"

#include "ssm/eigen_tensor.h"
#include "ssm/lane_exp.h"
#include "ssm/selective_scan_float32.h"
#include "structseq/core/cpu_dispatch.h"
#include "structseq/core/error.h"
#include "structseq/core/threads.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>
#include <vector>

namespace structseq {

namespace {

using namespace ssm_detail;

struct Geometry {
    std::int64_t batch, dim, L, N;
};

// B or C as float64: fixed (dim, N), or input-dependent (batch, G, N, L) stored time-major as
// (batch, G, L, N) so that the N values of one step are contiguous.
struct Selector {
    bool variable = false;
    std::int64_t groups = 1;
    Shape shape;
    std::vector<double> data;

    const double* at(const Geometry& g, std::int64_t b, std::int64_t d, std::int64_t t) const {
        if (!variable) return data.data() + d * g.N;
        const std::int64_t group = d / (g.dim / groups);
        return data.data() + ((b * groups + group) * g.L + t) * g.N;
    }
    double* at(const Geometry& g, std::int64_t b, std::int64_t d, std::int64_t t) {
        return const_cast<double*>(std::as_const(*this).at(g, b, d, t));
    }
};

Selector read_selector(std::string_view where, const Tensor& X, std::string_view name,
                       const Geometry& g) {
    check_numeric(X, where, name);
    check_argument(!is_complex(X.dtype()), where, name,
                   "dtype " + std::string(dtype_name(X.dtype())), "a real array");
    Selector s;
    s.shape = X.shape();
    const std::string expected = fmt::format("({}, {}), ({}, {}, {}) or ({}, G, {}, {})", g.dim,
                                             g.N, g.batch, g.N, g.L, g.batch, g.N, g.L);
    const Tensor x = X.contiguous().to(DType::F64);
    if (X.rank() == 2) {
        check_argument(X.dim(0) == g.dim && X.dim(1) == g.N, where, name,
                       "shape " + shape_string(X.shape()), expected);
        s.data.assign(x.data<double>(), x.data<double>() + x.numel());
        return s;
    }
    const bool grouped = X.rank() == 4;
    s.variable = true;
    s.groups = grouped ? X.dim(1) : 1;
    const bool ok = (X.rank() == 3 || grouped) && X.dim(0) == g.batch && s.groups >= 1 &&
                    g.dim % s.groups == 0 && X.dim(-2) == g.N && X.dim(-1) == g.L;
    check_argument(ok, where, name, "shape " + shape_string(X.shape()),
                   expected + " with dim divisible by G");
    s.data.resize(static_cast<std::size_t>(x.numel()));
    const double* src = x.data<double>();
    // Time outer: the N source rows stream in parallel and the writes stay contiguous.
    for (std::int64_t bg = 0; bg < g.batch * s.groups; ++bg) {
        for (std::int64_t t = 0; t < g.L; ++t) {
            for (std::int64_t n = 0; n < g.N; ++n) {
                s.data[static_cast<std::size_t>((bg * g.L + t) * g.N + n)] =
                    src[(bg * g.N + n) * g.L + t];
            }
        }
    }
    return s;
}

// A selector-shaped gradient back in the input's layout and dtype.
Tensor selector_tensor(const Selector& like, const Geometry& g, const std::vector<double>& data,
                       DType dtype) {
    Tensor out(like.shape, DType::F64);
    double* dst = out.data<double>();
    if (!like.variable) {
        std::copy(data.begin(), data.end(), dst);
        return out.to(dtype);
    }
    for (std::int64_t bg = 0; bg < g.batch * like.groups; ++bg) {
        for (std::int64_t t = 0; t < g.L; ++t) {
            for (std::int64_t n = 0; n < g.N; ++n) {
                dst[(bg * g.N + n) * g.L + t] =
                    data[static_cast<std::size_t>((bg * g.L + t) * g.N + n)];
            }
        }
    }
    return out.to(dtype);
}

// The checked inputs, as float64.
struct Inputs {
    Geometry g;
    std::vector<double> u, delta, A, D, z, bias;  // D, z, bias empty when absent
    Selector B, C;
    bool softplus = false, bilinear = false;
    DType dtype = DType::F64;
};

std::vector<double> doubles(const Tensor& t) {
    const Tensor d = t.contiguous().to(DType::F64);
    return {d.data<double>(), d.data<double>() + d.numel()};
}

Inputs read_inputs(std::string_view where, const Tensor& u, const Tensor& delta, const Tensor& A,
                   const Tensor& B, const Tensor& C, const Tensor& D, const Tensor& z,
                   const Tensor& delta_bias, bool delta_softplus, std::string_view discretization) {
    check_argument(discretization == "zoh" || discretization == "bilinear", where, "discretization",
                   fmt::format("\"{}\"", discretization), "\"zoh\" or \"bilinear\"");
    for (const auto& [t, name] :
         {std::pair{&u, "u"}, std::pair{&delta, "delta"}, std::pair{&A, "A"}}) {
        check_numeric(*t, where, name);
        check_argument(!is_complex(t->dtype()), where, name,
                       "dtype " + std::string(dtype_name(t->dtype())), "a real array");
    }
    check_argument(u.rank() == 3, where, "u", "shape " + shape_string(u.shape()),
                   "(batch, dim, L)");
    check_argument(A.rank() == 2 && A.dim(0) == u.dim(1), where, "A",
                   "shape " + shape_string(A.shape()), fmt::format("({}, N)", u.dim(1)));
    Inputs in;
    in.g = {u.dim(0), u.dim(1), u.dim(2), A.dim(1)};
    check_argument(delta.shape() == u.shape(), where, "delta",
                   "shape " + shape_string(delta.shape()),
                   "the shape of u " + shape_string(u.shape()));
    in.u = doubles(u);
    in.delta = doubles(delta);
    in.A = doubles(A);
    in.B = read_selector(where, B, "B", in.g);
    in.C = read_selector(where, C, "C", in.g);
    const auto optional_vector = [&](const Tensor& t, const char* name) {
        if (!t.defined()) return std::vector<double>();
        check_numeric(t, where, name);
        check_argument(t.rank() == 1 && t.dim(0) == in.g.dim && !is_complex(t.dtype()), where, name,
                       "shape " + shape_string(t.shape()), fmt::format("({},)", in.g.dim));
        return doubles(t);
    };
    in.D = optional_vector(D, "D");
    in.bias = optional_vector(delta_bias, "delta_bias");
    if (z.defined()) {
        check_numeric(z, where, "z");
        check_argument(z.shape() == u.shape() && !is_complex(z.dtype()), where, "z",
                       "shape " + shape_string(z.shape()),
                       "the shape of u " + shape_string(u.shape()));
        in.z = doubles(z);
    }
    in.softplus = delta_softplus;
    in.bilinear = discretization == "bilinear";
    in.dtype = result_dtype({&u}, false);
    return in;
}

// softplus as torch computes it (linear above 20).
double softplus(double x) {
    return x > 20 ? x : std::log1p(std::exp(x));
}
double sigmoid(double x) {
    return 1 / (1 + std::exp(-x));
}

// Δ_t of one row after the bias and the softplus; `raw` gets the pre-softplus value.
double step_of(const Inputs& in, std::int64_t row, std::int64_t d, std::int64_t t, double* raw) {
    double value = in.delta[static_cast<std::size_t>(row * in.g.L + t)];
    if (!in.bias.empty()) value += in.bias[static_cast<std::size_t>(d)];
    *raw = value;
    return in.softplus ? softplus(value) : value;
}

// One step of the state, x ← Ā ⊙ x + B̄u over the N lanes, returning C · x: eight lanes at a
// time with lane_exp, the remainder one by one.
template <bool Bilinear>
STRUCTSEQ_ALWAYS_INLINE double advance(std::int64_t N, const double* A, double dt, const double* Bt,
                                       double u_t, const double* Ct, double* x) {
    Lanes8 acc = {};
    std::int64_t n = 0;
    for (; n + 8 <= N; n += 8) {
        const Lanes8 a = load_lanes<Lanes8>(A + n), b = load_lanes<Lanes8>(Bt + n);
        Lanes8 a_bar, bu;
        if constexpr (Bilinear) {
            const Lanes8 den = 1.0 - dt * a / 2;
            a_bar = (1.0 + dt * a / 2) / den;
            bu = dt * u_t * b / den;
        } else {
            a_bar = lane_exp(dt * a);
            bu = dt * u_t * b;
        }
        const Lanes8 xv = a_bar * load_lanes<Lanes8>(x + n) + bu;
        store_lanes(x + n, xv);
        acc += load_lanes<Lanes8>(Ct + n) * xv;
    }
    double y = 0;
    for (int k = 0; k < 8; ++k) y += acc[k];
    for (; n < N; ++n) {
        double a_bar, bu;
        if constexpr (Bilinear) {
            const double den = 1 - dt * A[n] / 2;
            a_bar = (1 + dt * A[n] / 2) / den;
            bu = dt * Bt[n] * u_t / den;
        } else {
            a_bar = std::exp(dt * A[n]);
            bu = dt * Bt[n] * u_t;
        }
        x[n] = a_bar * x[n] + bu;
        y += Ct[n] * x[n];
    }
    return y;
}

STRUCTSEQ_ALWAYS_INLINE double advance(const Inputs& in, const double* A, double dt,
                                       const double* Bt, double u_t, const double* Ct, double* x) {
    return in.bilinear ? advance<true>(in.g.N, A, dt, Bt, u_t, Ct, x)
                       : advance<false>(in.g.N, A, dt, Bt, u_t, Ct, x);
}

double silu(double v) {
    return v * sigmoid(v);
}

// The steps Δ_t, t ∈ [t0, t1), of row (b, d) (bias, softplus) into steps[t − t0], eight per
// vector; `slopes` (when not null) gets dΔ/dδ = sigmoid(δ + bias) under softplus, else 1.
STRUCTSEQ_ALWAYS_INLINE void row_steps(const Inputs& in, std::int64_t row, std::int64_t t0,
                                       std::int64_t t1, double* steps, double* slopes) {
    const Geometry& g = in.g;
    const std::int64_t d = row % g.dim;
    const double bias = in.bias.empty() ? 0.0 : in.bias[static_cast<std::size_t>(d)];
    const double* delta = in.delta.data() + row * g.L;
    std::int64_t t = t0;
    for (; t + 8 <= t1; t += 8) {
        const Lanes8 raw = load_lanes<Lanes8>(delta + t) + bias;
        store_lanes(steps + t - t0, in.softplus ? lane_softplus(raw) : raw);
        if (slopes != nullptr) {
            store_lanes(slopes + t - t0,
                        in.softplus ? 1.0 / (1.0 + lane_exp(-raw)) : Lanes8{} + 1.0);
        }
    }
    for (; t < t1; ++t) {
        double raw;
        steps[t - t0] = step_of(in, row, d, t, &raw);
        if (slopes != nullptr) slopes[t - t0] = in.softplus ? sigmoid(raw) : 1.0;
    }
}

// Steps [t0, t1) of row (b, d) from the state x (N, updated in place): out[t] when `out` is not
// null, and when `decay` is not null the product of the Ā_t over the range (N). The steps Δ_t
// and the gates silu(z_t) are formed first, eight steps per vector.
STRUCTSEQ_CPU_CLONES
void forward_row(const Inputs& in, std::int64_t row, std::int64_t t0, std::int64_t t1, double* out,
                 double* x, double* decay) {
    const Geometry& g = in.g;
    const std::int64_t b = row / g.dim, d = row % g.dim, span = t1 - t0;
    const double* Ad = in.A.data() + d * g.N;
    const double* zr = in.z.empty() ? nullptr : in.z.data() + row * g.L;
    std::vector<double> steps(static_cast<std::size_t>(span)), gates(steps.size(), 1.0);
    row_steps(in, row, t0, t1, steps.data(), nullptr);
    if (zr != nullptr && out != nullptr) {
        std::int64_t t = t0;
        for (; t + 8 <= t1; t += 8) {
            const Lanes8 zt = load_lanes<Lanes8>(zr + t);
            store_lanes(gates.data() + t - t0, zt / (1.0 + lane_exp(-zt)));
        }
        for (; t < t1; ++t) gates[static_cast<std::size_t>(t - t0)] = silu(zr[t]);
    }
    for (std::int64_t t = t0; t < t1; ++t) {
        const double u_t = in.u[static_cast<std::size_t>(row * g.L + t)];
        const double dt = steps[static_cast<std::size_t>(t - t0)];
        double value = advance(in, Ad, dt, in.B.at(g, b, d, t), u_t, in.C.at(g, b, d, t), x);
        if (out == nullptr) continue;
        if (!in.D.empty()) value += in.D[static_cast<std::size_t>(d)] * u_t;
        out[t] = value * gates[static_cast<std::size_t>(t - t0)];
    }
    if (decay == nullptr) return;
    if (in.bilinear) {
        std::fill_n(decay, g.N, 1.0);
        for (const double dt : steps) {
            for (std::int64_t n = 0; n < g.N; ++n)
                decay[n] *= (1 + dt * Ad[n] / 2) / (1 - dt * Ad[n] / 2);
        }
    } else {  // Π exp(Δ_t A) = exp(A Σ Δ_t)
        double total = 0;
        for (const double dt : steps) total += dt;
        for (std::int64_t n = 0; n < g.N; ++n) decay[n] = std::exp(Ad[n] * total);
    }
}

// Where one row's backward writes: per-position gradients (L each), per-row sums, and dB/dC
// (input-dependent ones in place, fixed ones per row, N each).
struct RowGradients {
    double* du;
    double* ddelta;
    double* dz;
    double* dA;  // N
    double* dD;
    double* dbias;
    Selector* dB;  // input-dependent, or null
    Selector* dC;
    double* dB_fixed;  // N, used when dB is null
    double* dC_fixed;
};

// Per-thread scratch of the backward.
struct BackwardScratch {
    std::vector<double> checkpoints, states, adjoint, x, steps, slopes, a_bar;
};

constexpr std::int64_t kCheckpointEvery = 64;

// g_n = λ_n + dy C_n;  ddt += g_n (∂Ā/∂Δ x_{t−1} + ∂B̄u/∂Δ);  dA += g_n (∂Ā/∂A x_{t−1} + ∂B̄u/∂A);
// dB += g_n (B̄u/B) u;  du += g_n (B̄u/B) B;  λ ← g_n Ā. Eight state lanes per vector for ZOH
// (with Ā from the caller), returning ddt and adding into *du_t.
template <bool Bilinear>
STRUCTSEQ_ALWAYS_INLINE double adjoint_step(std::int64_t N, const double* A, double dt, double u_t,
                                            double dy, const double* Bt, const double* Ct,
                                            const double* xt, const double* xp,
                                            const double* a_bar_zoh, double* adjoint, double* dA,
                                            double* dBt, double* dCt, double* du_t) {
    double ddt = 0, du = 0;
    std::int64_t n = 0;
    if constexpr (!Bilinear) {
        Lanes8 ddt_v = {}, du_v = {};
        for (; n + 8 <= N; n += 8) {
            const Lanes8 a = load_lanes<Lanes8>(A + n), b = load_lanes<Lanes8>(Bt + n);
            const Lanes8 a_bar = load_lanes<Lanes8>(a_bar_zoh + n);
            const Lanes8 xprev = load_lanes<Lanes8>(xp + n);
            store_lanes(dCt + n, load_lanes<Lanes8>(dCt + n) + dy * load_lanes<Lanes8>(xt + n));
            const Lanes8 gn = load_lanes<Lanes8>(adjoint + n) + dy * load_lanes<Lanes8>(Ct + n);
            ddt_v += gn * (a * a_bar * xprev + b * u_t);
            store_lanes(dA + n, load_lanes<Lanes8>(dA + n) + gn * dt * a_bar * xprev);
            store_lanes(dBt + n, load_lanes<Lanes8>(dBt + n) + gn * (dt * u_t));
            du_v += gn * dt * b;
            store_lanes(adjoint + n, gn * a_bar);
        }
        for (int k = 0; k < 8; ++k) {
            ddt += ddt_v[k];
            du += du_v[k];
        }
    }
    for (; n < N; ++n) {
        dCt[n] += dy * xt[n];
        const double gn = adjoint[n] + dy * Ct[n];
        double a_bar, da_ddt, da_dA, dbu_ddt, dbu_dA, bu_per_b;
        if constexpr (Bilinear) {
            const double den = 1 - dt * A[n] / 2;
            a_bar = (1 + dt * A[n] / 2) / den;
            da_ddt = A[n] / (den * den);
            da_dA = dt / (den * den);
            dbu_ddt = Bt[n] * u_t / (den * den);
            dbu_dA = dt * dt * Bt[n] * u_t / (2 * den * den);
            bu_per_b = dt / den;
        } else {
            a_bar = a_bar_zoh[n];
            da_ddt = A[n] * a_bar;
            da_dA = dt * a_bar;
            dbu_ddt = Bt[n] * u_t;
            dbu_dA = 0;
            bu_per_b = dt;
        }
        ddt += gn * (da_ddt * xp[n] + dbu_ddt);
        dA[n] += gn * (da_dA * xp[n] + dbu_dA);
        dBt[n] += gn * bu_per_b * u_t;
        du += gn * bu_per_b * Bt[n];
        adjoint[n] = gn * a_bar;
    }
    *du_t += du;
    return ddt;
}

// Row (b, d) of the backward: recompute the states from checkpoints every kCheckpointEvery
// steps, then run the adjoint recursion backwards in time chunk by chunk.
STRUCTSEQ_CPU_CLONES
void backward_row(const Inputs& in, std::int64_t row, const double* dout, const RowGradients& out,
                  BackwardScratch& s) {
    const Geometry& g = in.g;
    const std::int64_t N = g.N, L = g.L, b = row / g.dim, d = row % g.dim;
    const std::int64_t chunks = (L + kCheckpointEvery - 1) / kCheckpointEvery;
    const double* Ad = in.A.data() + d * N;
    const double Dd = in.D.empty() ? 0.0 : in.D[static_cast<std::size_t>(d)];
    s.checkpoints.assign(static_cast<std::size_t>((chunks + 1) * N), 0.0);
    s.states.resize(static_cast<std::size_t>(kCheckpointEvery * N));
    s.adjoint.assign(static_cast<std::size_t>(N), 0.0);
    s.x.assign(static_cast<std::size_t>(N), 0.0);
    s.a_bar.resize(static_cast<std::size_t>(N));
    s.steps.resize(static_cast<std::size_t>(L));
    s.slopes.resize(static_cast<std::size_t>(L));
    row_steps(in, row, 0, L, s.steps.data(), s.slopes.data());
    double* x = s.x.data();
    const auto u_at = [&](std::int64_t t) { return in.u[static_cast<std::size_t>(row * L + t)]; };
    for (std::int64_t t = 0; t < L; ++t) {
        if (t % kCheckpointEvery == 0) {
            std::copy_n(x, N, s.checkpoints.begin() + (t / kCheckpointEvery) * N);
        }
        advance(in, Ad, s.steps[t], in.B.at(g, b, d, t), u_at(t), in.C.at(g, b, d, t), x);
    }
    for (std::int64_t c = chunks - 1; c >= 0; --c) {
        const std::int64_t t0 = c * kCheckpointEvery, t1 = std::min(L, t0 + kCheckpointEvery);
        std::copy_n(s.checkpoints.begin() + c * N, N, x);
        for (std::int64_t t = t0; t < t1; ++t) {
            advance(in, Ad, s.steps[t], in.B.at(g, b, d, t), u_at(t), in.C.at(g, b, d, t), x);
            std::copy_n(x, N, s.states.begin() + (t - t0) * N);
        }
        for (std::int64_t t = t1 - 1; t >= t0; --t) {
            const std::size_t at = static_cast<std::size_t>(row * L + t);
            const double* xt = s.states.data() + (t - t0) * N;
            const double* xp =
                t > t0 ? s.states.data() + (t - t0 - 1) * N : s.checkpoints.data() + c * N;
            const double* Bt = in.B.at(g, b, d, t);
            const double* Ct = in.C.at(g, b, d, t);
            double* dBt = out.dB != nullptr ? out.dB->at(g, b, d, t) : out.dB_fixed;
            double* dCt = out.dC != nullptr ? out.dC->at(g, b, d, t) : out.dC_fixed;
            const double u_t = in.u[at], dt = s.steps[t];
            double y = 0;
            for (std::int64_t n = 0; n < N; ++n) y += Ct[n] * xt[n];
            double dy = dout[at];
            if (!in.z.empty()) {
                const double zt = in.z[at], sg = sigmoid(zt);
                out.dz[at] = dy * (y + Dd * u_t) * sg * (1 + zt * (1 - sg));
                dy *= zt * sg;
            }
            *out.dD += dy * u_t;
            double du_t = dy * Dd;
            double ddt;
            if (in.bilinear) {
                ddt = adjoint_step<true>(N, Ad, dt, u_t, dy, Bt, Ct, xt, xp, nullptr,
                                         s.adjoint.data(), out.dA, dBt, dCt, &du_t);
            } else {
                std::int64_t n = 0;
                for (; n + 8 <= N; n += 8) {
                    store_lanes(s.a_bar.data() + n, lane_exp(dt * load_lanes<Lanes8>(Ad + n)));
                }
                for (; n < N; ++n) s.a_bar[n] = std::exp(dt * Ad[n]);
                ddt = adjoint_step<false>(N, Ad, dt, u_t, dy, Bt, Ct, xt, xp, s.a_bar.data(),
                                          s.adjoint.data(), out.dA, dBt, dCt, &du_t);
            }
            out.du[at] = du_t;
            const double draw = ddt * s.slopes[t];
            out.ddelta[at] = draw;
            *out.dbias += draw;
        }
    }
}

}  // namespace

SelectiveScanResult selective_scan(const Tensor& u, const Tensor& delta, const Tensor& A,
                                   const Tensor& B, const Tensor& C, const Tensor& D,
                                   const Tensor& z, const Tensor& delta_bias, bool delta_softplus,
                                   bool return_last_state, std::string_view discretization,
                                   bool use_parallel_scan, bool return_checkpoints) {
    if (!return_last_state) {
        if (std::optional<SelectiveScanResult> r =
                selective_scan_float32(u, delta, A, B, C, D, z, delta_bias, delta_softplus,
                                       discretization, return_checkpoints)) {
            return *r;
        }
    }
    const Inputs in = read_inputs("selective_scan", u, delta, A, B, C, D, z, delta_bias,
                                  delta_softplus, discretization);
    const Geometry& g = in.g;
    Tensor out({g.batch, g.dim, g.L}, DType::F64);
    Tensor last({g.batch, g.dim, g.N}, DType::F64);
    double* y = out.data<double>();
    double* states = last.data<double>();
    const std::int64_t rows = g.batch * g.dim;
    // Time-parallel: chunks of at least kMinChunk steps, a few per thread.
    constexpr std::int64_t kMinChunk = 256;
    const std::int64_t chunks =
        use_parallel_scan ? std::clamp<std::int64_t>(g.L / kMinChunk, 1, 4 * num_threads()) : 1;
    if (chunks == 1) {
#pragma omp parallel for num_threads(num_threads()) \
    schedule(static) if (rows > 1 && rows * g.L * g.N > 20000)
        for (std::int64_t row = 0; row < rows; ++row) {
            forward_row(in, row, 0, g.L, y + row * g.L, states + row * g.N, nullptr);
        }
    } else {
        // 1. Each chunk from a zero state: its end state and the product of its Ā (chunk c, row
        // at index row · chunks + c). 2. Per row, the state entering each chunk:
        // x_c = decay_{c−1} ⊙ x_{c−1} + end_{c−1}. 3. Each chunk again from its entering state.
        const auto bounds = [&](std::int64_t c) {
            return std::pair{c * g.L / chunks, (c + 1) * g.L / chunks};
        };
        const std::size_t size = static_cast<std::size_t>(rows * chunks * g.N);
        std::vector<double> ends(size, 0.0), decays(size), entering(size, 0.0);
#pragma omp parallel for num_threads(num_threads()) schedule(static)
        for (std::int64_t task = 0; task < rows * chunks; ++task) {
            const auto [t0, t1] = bounds(task % chunks);
            forward_row(in, task / chunks, t0, t1, nullptr, ends.data() + task * g.N,
                        decays.data() + task * g.N);
        }
        for (std::int64_t row = 0; row < rows; ++row) {
            for (std::int64_t c = 1; c < chunks; ++c) {
                const std::int64_t at = (row * chunks + c) * g.N, before = at - g.N;
                for (std::int64_t n = 0; n < g.N; ++n) {
                    entering[at + n] = decays[before + n] * entering[before + n] + ends[before + n];
                }
            }
        }
#pragma omp parallel for num_threads(num_threads()) schedule(static)
        for (std::int64_t task = 0; task < rows * chunks; ++task) {
            const std::int64_t row = task / chunks, c = task % chunks;
            const auto [t0, t1] = bounds(c);
            double* x = entering.data() + task * g.N;
            forward_row(in, row, t0, t1, y + row * g.L, x, nullptr);
            if (c == chunks - 1) std::copy_n(x, g.N, states + row * g.N);
        }
    }
    SelectiveScanResult result;
    result.out = out.to(in.dtype);
    if (return_last_state) result.last_state = last.to(in.dtype);
    return result;
}

SelectiveScanGradients selective_scan_backward(const Tensor& dout_in, const Tensor& u,
                                               const Tensor& delta, const Tensor& A,
                                               const Tensor& B, const Tensor& C, const Tensor& D,
                                               const Tensor& z, const Tensor& delta_bias,
                                               bool delta_softplus, std::string_view discretization,
                                               const Tensor& checkpoints) {
    if (std::optional<SelectiveScanGradients> g =
            selective_scan_backward_float32(dout_in, u, delta, A, B, C, D, z, delta_bias,
                                            delta_softplus, discretization, checkpoints)) {
        return *g;
    }
    constexpr std::string_view where = "selective_scan_backward";
    check_argument(!checkpoints.defined(), where, "checkpoints",
                   "given for operands that take the float64 path",
                   "none: only float32 operands with input-dependent, ungrouped B and C keep "
                   "checkpoints (selective_scan's return_checkpoints)");
    const Inputs in =
        read_inputs(where, u, delta, A, B, C, D, z, delta_bias, delta_softplus, discretization);
    const Geometry& g = in.g;
    check_numeric(dout_in, where, "dout");
    check_argument(dout_in.shape() == u.shape() && !is_complex(dout_in.dtype()), where, "dout",
                   "shape " + shape_string(dout_in.shape()),
                   "the shape of u " + shape_string(u.shape()));
    const std::vector<double> dout = doubles(dout_in);
    const std::int64_t rows = g.batch * g.dim, N = g.N, L = g.L;
    std::vector<double> du(static_cast<std::size_t>(rows * L)), ddelta(du.size()), dz(du.size());
    // Per-row partial sums, reduced over the batch in order afterwards (deterministic).
    std::vector<double> dA_rows(static_cast<std::size_t>(rows * N), 0.0);
    std::vector<double> dD_rows(static_cast<std::size_t>(rows), 0.0), dbias_rows(dD_rows.size());
    std::vector<double> dB_fixed(in.B.variable ? 0 : static_cast<std::size_t>(rows * N), 0.0);
    std::vector<double> dC_fixed(in.C.variable ? 0 : static_cast<std::size_t>(rows * N), 0.0);
    Selector dB = in.B, dC = in.C;  // input-dependent gradients accumulate in place, per batch
    if (dB.variable) std::fill(dB.data.begin(), dB.data.end(), 0.0);
    if (dC.variable) std::fill(dC.data.begin(), dC.data.end(), 0.0);
    const bool variable = in.B.variable || in.C.variable;
    // Rows of one batch element write the same input-dependent dB/dC: with any of those, the
    // threads split the batch, otherwise the (batch, channel) rows.
    const std::int64_t tasks = variable ? g.batch : rows;
    const std::int64_t rows_per_task = variable ? g.dim : 1;
#pragma omp parallel num_threads(num_threads()) if (tasks > 1 && rows * L * N > 20000)
    {
        BackwardScratch scratch;
#pragma omp for schedule(static)
        for (std::int64_t task = 0; task < tasks; ++task) {
            for (std::int64_t k = 0; k < rows_per_task; ++k) {
                const std::int64_t row = task * rows_per_task + k;
                const std::size_t r = static_cast<std::size_t>(row);
                const RowGradients out{du.data(),
                                       ddelta.data(),
                                       dz.data(),
                                       dA_rows.data() + row * N,
                                       dD_rows.data() + r,
                                       dbias_rows.data() + r,
                                       in.B.variable ? &dB : nullptr,
                                       in.C.variable ? &dC : nullptr,
                                       in.B.variable ? nullptr : dB_fixed.data() + row * N,
                                       in.C.variable ? nullptr : dC_fixed.data() + row * N};
                backward_row(in, row, dout.data(), out, scratch);
            }
        }
    }
    // Reductions over the batch, in order.
    const auto over_batch = [&](const std::vector<double>& per_row, std::int64_t width) {
        std::vector<double> sum(static_cast<std::size_t>(g.dim * width), 0.0);
        for (std::int64_t b = 0; b < g.batch; ++b) {
            for (std::int64_t i = 0; i < g.dim * width; ++i) {
                sum[static_cast<std::size_t>(i)] +=
                    per_row[static_cast<std::size_t>(b * g.dim * width + i)];
            }
        }
        return sum;
    };
    const auto tensor_of = [&](const std::vector<double>& v, Shape shape) {
        Tensor t(std::move(shape), DType::F64);
        std::copy(v.begin(), v.end(), t.data<double>());
        return t.to(in.dtype);
    };
    SelectiveScanGradients grads;
    grads.du = tensor_of(du, u.shape());
    grads.ddelta = tensor_of(ddelta, u.shape());
    grads.dA = tensor_of(over_batch(dA_rows, N), A.shape());
    grads.dB = in.B.variable ? selector_tensor(in.B, g, dB.data, in.dtype)
                             : tensor_of(over_batch(dB_fixed, N), B.shape());
    grads.dC = in.C.variable ? selector_tensor(in.C, g, dC.data, in.dtype)
                             : tensor_of(over_batch(dC_fixed, N), C.shape());
    if (D.defined()) grads.dD = tensor_of(over_batch(dD_rows, 1), D.shape());
    if (z.defined()) grads.dz = tensor_of(dz, z.shape());
    if (delta_bias.defined())
        grads.ddelta_bias = tensor_of(over_batch(dbias_rows, 1), delta_bias.shape());
    return grads;
}

}  // namespace structseq
