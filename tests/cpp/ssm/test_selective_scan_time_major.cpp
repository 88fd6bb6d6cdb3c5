#include "structseq/ssm/selective_scan_time_major.h"

#include "test_util.h"

#include <fmt/format.h>

#include <cmath>
#include <string>

namespace structseq {
namespace {

using testing::normal_tensor;
using testing::relative_error;
using testing::tensor_of;
using testing::values_of;

// batch 2, dim 19 (two float64 blocks and a partial one; one float32 block and a partial one),
// N 5 (N 16 runs the kernels compiled for that size), L 70 (crosses the 64-step checkpoints). B
// and C are column views of one wider projection, as in Mamba's mixer. With `huge_decay`,
// channel 3 has A = −300, so that exp(Δ·A) underflows and its chunks take the clamped exps.
struct Problem {
    std::int64_t batch = 2, L = 70, dim = 19, N = 5;
    Tensor u, delta, A, x_dbl, B, C, D, z, bias;

    explicit Problem(DType dtype = DType::F64, std::int64_t state_size = 5, bool huge_decay = false,
                     std::int64_t length = 70)
        : L(length), N(state_size) {
        const std::int64_t M = batch * L;
        u = normal_tensor({M, dim}, 1).to(dtype);
        delta = normal_tensor({M, dim}, 2, 0.5).to(dtype);  // softplus'd with bias −1
        std::vector<double> a = values_of(normal_tensor({dim, N}, 3));
        for (double& v : a) v = -0.1 - std::abs(v);
        if (huge_decay) a[3 * N + 1] = -300;
        A = tensor_of(a, {dim, N}).to(dtype);
        x_dbl = normal_tensor({M, 3 + 2 * N}, 4).to(dtype);
        B = x_dbl.narrow(1, 3, N);
        C = x_dbl.narrow(1, 3 + N, N);
        D = normal_tensor({dim}, 5).to(dtype);
        z = normal_tensor({M, dim}, 6).to(dtype);
        std::vector<double> b(static_cast<std::size_t>(dim), -1.0);
        bias = tensor_of(b, {dim}).to(dtype);
    }
    TimeMajorScanInputs inputs(std::string_view method) const {
        TimeMajorScanInputs in;
        in.batch = batch;
        in.u = u;
        in.delta = delta;
        in.A = A;
        in.B = B;
        in.C = C;
        in.D = D;
        in.z = z;
        in.delta_bias = bias;
        in.delta_softplus = true;
        in.discretization = method;
        return in;
    }
    Tensor out(std::string_view method) const {
        return selective_scan_time_major(inputs(method)).out;
    }
};

// The recursion in plain loops, float64.
std::vector<double> loop_reference(const Problem& p, bool bilinear) {
    const std::vector<double> u = values_of(p.u), delta = values_of(p.delta), A = values_of(p.A);
    const std::vector<double> B = values_of(p.B), C = values_of(p.C), D = values_of(p.D);
    const std::vector<double> z = values_of(p.z), bias = values_of(p.bias);
    std::vector<double> out(u.size());
    for (std::int64_t b = 0; b < p.batch; ++b) {
        for (std::int64_t d = 0; d < p.dim; ++d) {
            std::vector<double> x(static_cast<std::size_t>(p.N), 0.0);
            for (std::int64_t t = 0; t < p.L; ++t) {
                const std::int64_t row = b * p.L + t, at = row * p.dim + d;
                const double dt = std::log1p(std::exp(delta[at] + bias[d]));
                double y = D[d] * u[at];
                for (std::int64_t n = 0; n < p.N; ++n) {
                    const double q = dt * A[d * p.N + n], bn = B[row * p.N + n];
                    x[n] = bilinear
                               ? (1 + q / 2) / (1 - q / 2) * x[n] + dt * bn * u[at] / (1 - q / 2)
                               : std::exp(q) * x[n] + dt * bn * u[at];
                    y += C[row * p.N + n] * x[n];
                }
                out[at] = y * z[at] / (1 + std::exp(-z[at]));
            }
        }
    }
    return out;
}

// N 5 and 16, with and without underflowing decays.
const std::pair<std::int64_t, bool> kVariants[] = {{5, false}, {16, false}, {16, true}};

TEST(SelectiveScanTimeMajor, MatchesTheLoopReference) {
    for (const auto& [N, huge_decay] : kVariants) {
        const Problem p(DType::F64, N, huge_decay);
        for (const char* method : {"zoh", "bilinear"}) {
            const Tensor out = p.out(method);
            EXPECT_EQ(out.shape(), (Shape{p.batch * p.L, p.dim}));
            EXPECT_LT(relative_error(values_of(out), loop_reference(p, method[0] == 'b')), 1e-13)
                << method << " N " << N << " huge_decay " << huge_decay;
        }
    }
}

TEST(SelectiveScanTimeMajor, Float32AgreesWithFloat64) {
    for (const auto& [N, huge_decay] : kVariants) {
        const Problem p64(DType::F64, N, huge_decay), p32(DType::F32, N, huge_decay);
        for (const char* method : {"zoh", "bilinear"}) {
            const Tensor out = p32.out(method);
            EXPECT_EQ(out.dtype(), DType::F32);
            EXPECT_LT(relative_error(values_of(out), values_of(p64.out(method))), 2e-6)
                << method << " N " << N << " huge_decay " << huge_decay;
        }
    }
}

// Operands in selective_scan.h's layout, (batch, dim, L), give the time-major kernel's output,
// checkpoints and gradients in that layout, bit for bit: partial blocks (dim 19), a partial last
// chunk (L 70), with and without z, the backward with checkpoints from the forward and without.
// L = 80 makes every chunk whole 64-byte lines, so the staged outputs of the full block go out by
// non-temporal stores; L = 70 takes plain stores.
TEST(SelectiveScanTimeMajor, ChannelMajorOperandsGiveTheSameBits) {
    for (const auto& [N, huge_decay] : kVariants) {
        for (const auto& [dtype, L] : {std::pair{DType::F64, 70}, std::pair{DType::F32, 70},
                                       std::pair{DType::F64, 80}, std::pair{DType::F32, 80}}) {
            const Problem p(dtype, N, huge_decay, L);
            const auto channel_major = [&](const Tensor& t) {
                return t.reshape({p.batch, p.L, p.dim}).transpose(1, 2).contiguous();
            };
            const Tensor dout = normal_tensor({p.batch * p.L, p.dim}, 10).to(dtype);
            for (const char* method : {"zoh", "bilinear"}) {
                for (const bool gated : {true, false}) {
                    const std::string what =
                        fmt::format("{} N {} huge_decay {} {} L {} gated {}", method, N, huge_decay,
                                    dtype_name(dtype), L, gated);
                    TimeMajorScanInputs rows = p.inputs(method);
                    if (!gated) rows.z = Tensor();
                    TimeMajorScanInputs channels = rows;
                    channels.u = channel_major(rows.u);
                    channels.delta = channel_major(rows.delta);
                    if (gated) channels.z = channel_major(rows.z);
                    const TimeMajorScanResult mine = selective_scan_channel_major(channels, true);
                    const TimeMajorScanResult theirs = selective_scan_time_major(rows, true);
                    EXPECT_EQ(mine.out.shape(), (Shape{p.batch, p.dim, p.L}));
                    EXPECT_EQ(values_of(mine.out), values_of(channel_major(theirs.out))) << what;
                    EXPECT_EQ(values_of(mine.checkpoints), values_of(theirs.checkpoints)) << what;

                    const SelectiveScanGradients g =
                        selective_scan_time_major_backward(rows, dout, theirs.checkpoints);
                    for (const Tensor& checkpoints : {mine.checkpoints, Tensor()}) {
                        const SelectiveScanGradients c = selective_scan_channel_major_backward(
                            channels, channel_major(dout), checkpoints);
                        EXPECT_EQ(c.du.shape(), (Shape{p.batch, p.dim, p.L}));
                        EXPECT_EQ(values_of(c.du), values_of(channel_major(g.du))) << what;
                        EXPECT_EQ(values_of(c.ddelta), values_of(channel_major(g.ddelta))) << what;
                        EXPECT_EQ(c.dz.defined(), gated) << what;
                        if (gated) {
                            EXPECT_EQ(values_of(c.dz), values_of(channel_major(g.dz))) << what;
                        }
                        for (const auto& [a, b] : {std::pair{&c.dA, &g.dA}, std::pair{&c.dB, &g.dB},
                                                   std::pair{&c.dC, &g.dC}, std::pair{&c.dD, &g.dD},
                                                   std::pair{&c.ddelta_bias, &g.ddelta_bias}}) {
                            EXPECT_EQ(a->shape(), b->shape()) << what;
                            EXPECT_EQ(values_of(*a), values_of(*b)) << what;
                        }
                    }
                }
            }
        }
    }
}

// The same gradients as the channel-major kernel (selective_scan.h, itself checked against
// finite differences), and ⟨dout, out⟩ moves by ⟨g, e⟩ when an input moves along e.
TEST(SelectiveScanTimeMajor, BackwardMatchesTheChannelMajorKernelAndFiniteDifferences) {
    const Problem p;
    const std::int64_t M = p.batch * p.L;
    const Tensor dout = normal_tensor({M, p.dim}, 7);
    // (M, cols) → (batch, cols, L)
    const auto channel_major = [&](const Tensor& t) {
        return t.contiguous().reshape({p.batch, p.L, t.dim(1)}).transpose(1, 2).contiguous();
    };
    for (const char* method : {"zoh", "bilinear"}) {
        const SelectiveScanGradients g = selective_scan_time_major_backward(p.inputs(method), dout);
        const SelectiveScanGradients r = selective_scan_backward(
            channel_major(dout), channel_major(p.u), channel_major(p.delta), p.A,
            channel_major(p.B), channel_major(p.C), p.D, channel_major(p.z), p.bias, true, method);
        const auto same = [&](const Tensor& mine, const Tensor& theirs, const char* name) {
            const Tensor theirs_tm =
                theirs.rank() == 3 ? theirs.transpose(1, 2).contiguous().reshape({M, -1}) : theirs;
            EXPECT_EQ(mine.shape(), theirs_tm.shape()) << name;
            EXPECT_LT(relative_error(values_of(mine), values_of(theirs_tm)), 1e-12)
                << method << " " << name;
        };
        same(g.du, r.du, "du");
        same(g.ddelta, r.ddelta, "ddelta");
        same(g.dz, r.dz, "dz");
        same(g.dB, r.dB, "dB");
        same(g.dC, r.dC, "dC");
        same(g.dA, r.dA, "dA");
        same(g.dD, r.dD, "dD");
        same(g.ddelta_bias, r.ddelta_bias, "ddelta_bias");

        // Directional finite differences for u, delta and A.
        const auto loss = [&](const Problem& q) {
            const std::vector<double> o = values_of(q.out(method)), w = values_of(dout);
            double s = 0;
            for (std::size_t i = 0; i < o.size(); ++i) s += o[i] * w[i];
            return s;
        };
        const double h = 1e-6;
        for (int which = 0; which < 3; ++which) {
            Problem plus = p, minus = p;
            Tensor* tp = which == 0 ? &plus.u : which == 1 ? &plus.delta : &plus.A;
            Tensor* tm = which == 0 ? &minus.u : which == 1 ? &minus.delta : &minus.A;
            const Tensor e = normal_tensor(tp->shape(), 20 + which);
            const std::vector<double> ev = values_of(e), base = values_of(*tp);
            std::vector<double> up = base, down = base;
            for (std::size_t i = 0; i < base.size(); ++i) {
                up[i] += h * ev[i];
                down[i] -= h * ev[i];
            }
            *tp = tensor_of(up, tp->shape());
            *tm = tensor_of(down, tm->shape());
            const std::vector<double> grad = values_of(which == 0   ? g.du
                                                       : which == 1 ? g.ddelta
                                                                    : g.dA);
            double expected = 0;
            for (std::size_t i = 0; i < grad.size(); ++i) expected += grad[i] * ev[i];
            EXPECT_NEAR((loss(plus) - loss(minus)) / (2 * h), expected, 1e-6 * std::abs(expected))
                << method << " input " << which;
        }
    }
}

TEST(SelectiveScanTimeMajor, Float32BackwardAgreesWithFloat64) {
    const Problem p64, p32(DType::F32);
    const Tensor dout = normal_tensor({p64.batch * p64.L, p64.dim}, 8);
    const SelectiveScanGradients g64 = selective_scan_time_major_backward(p64.inputs("zoh"), dout);
    const SelectiveScanGradients g32 =
        selective_scan_time_major_backward(p32.inputs("zoh"), dout.to(DType::F32));
    for (const auto& [a, b] : {std::pair{&g32.du, &g64.du}, std::pair{&g32.ddelta, &g64.ddelta},
                               std::pair{&g32.dB, &g64.dB}, std::pair{&g32.dC, &g64.dC},
                               std::pair{&g32.dA, &g64.dA}, std::pair{&g32.dz, &g64.dz}}) {
        EXPECT_EQ(a->dtype(), DType::F32);
        EXPECT_LT(relative_error(values_of(*a), values_of(*b)), 1e-5);
    }
}

// The forward's checkpoints spare the backward a pass and change no bit of the gradients.
TEST(SelectiveScanTimeMajor, CheckpointsFromTheForwardGiveTheSameGradients) {
    const Problem p(DType::F32);
    const Tensor dout = normal_tensor({p.batch * p.L, p.dim}, 9).to(DType::F32);
    for (const char* method : {"zoh", "bilinear"}) {
        const TimeMajorScanResult r = selective_scan_time_major(p.inputs(method), true);
        EXPECT_EQ(r.checkpoints.shape(), (Shape{p.batch, 2, p.N, p.dim}));
        const SelectiveScanGradients with =
            selective_scan_time_major_backward(p.inputs(method), dout, r.checkpoints);
        const SelectiveScanGradients without =
            selective_scan_time_major_backward(p.inputs(method), dout);
        for (const auto& [a, b] :
             {std::pair{&with.du, &without.du}, std::pair{&with.ddelta, &without.ddelta},
              std::pair{&with.dB, &without.dB}, std::pair{&with.dA, &without.dA}}) {
            EXPECT_EQ(values_of(*a), values_of(*b)) << method;
        }
    }
}

TEST(SelectiveScanTimeMajor, RejectsBadInput) {
    const Problem p;
    const auto with = [&](auto change) {
        TimeMajorScanInputs in = p.inputs("zoh");
        change(in);
        return selective_scan_time_major(in);
    };
    EXPECT_ERROR_CONTAINS(with([](TimeMajorScanInputs& in) { in.batch = 3; }), "u");
    EXPECT_ERROR_CONTAINS(with([&](TimeMajorScanInputs& in) { in.B = p.x_dbl; }), "B");
    EXPECT_ERROR_CONTAINS(with([&](TimeMajorScanInputs& in) { in.delta = p.delta.to(DType::F32); }),
                          "delta");
    EXPECT_ERROR_CONTAINS(with([&](TimeMajorScanInputs& in) { in.z = p.z.transpose(0, 1); }), "z");
    EXPECT_ERROR_CONTAINS(with([](TimeMajorScanInputs& in) { in.discretization = "rk4"; }),
                          "discretization");
    TimeMajorScanInputs channels = p.inputs("zoh");  // still rows: not (batch, dim, L)
    EXPECT_ERROR_CONTAINS(selective_scan_channel_major(channels), "u");
    EXPECT_ERROR_CONTAINS(selective_scan_channel_major_backward(channels, p.u), "u");
    const Tensor wrong({p.batch, 3, p.N, p.dim}, DType::F64);
    EXPECT_ERROR_CONTAINS(selective_scan_time_major_backward(p.inputs("zoh"), p.u, wrong),
                          "checkpoints");
}

}  // namespace
}  // namespace structseq
