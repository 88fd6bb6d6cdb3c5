#include "structseq/nn/mamba_mixer.h"

#include "nn/silu.h"
#include "structseq/core/error.h"
#include "structseq/core/threads.h"
#include "structseq/nn/linear.h"
#include "structseq/ssm/selective_scan_time_major.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace structseq {

namespace {

// The depthwise kernel (d_inner, d_conv) as (d_conv, d_inner), so channels run contiguously.
template <class Real>
std::vector<Real> transposed_conv_weight(const Tensor& weight) {
    const Tensor W = weight.contiguous();
    const std::int64_t di = W.dim(0), kc = W.dim(1);
    std::vector<Real> Wt(static_cast<std::size_t>(kc * di));
    for (std::int64_t c = 0; c < di; ++c) {
        for (std::int64_t k = 0; k < kc; ++k) Wt[k * di + c] = W.data<Real>()[c * kc + k];
    }
    return Wt;
}

// The scan's operands, read in place from the activations: u = xc, z the second half of xz,
// B and C columns of x_dbl.
TimeMajorScanInputs scan_inputs(const MambaMixerWeights& w, std::int64_t batch, const Tensor& xc,
                                const Tensor& delta, const Tensor& A, const Tensor& xz,
                                const Tensor& x_dbl, std::string_view discretization) {
    const std::int64_t di = w.D.dim(0), n = w.A_log.dim(1), r = w.dt_proj.dim(1);
    TimeMajorScanInputs in;
    in.batch = batch;
    in.u = xc;
    in.delta = delta;
    in.A = A;
    in.B = x_dbl.narrow(1, r, n);
    in.C = x_dbl.narrow(1, r + n, n);
    in.D = w.D;
    in.z = xz.narrow(1, di, di);
    in.delta_bias = w.dt_proj_bias;
    in.delta_softplus = true;
    in.discretization = discretization;
    return in;
}

template <class Real>
Tensor forward(const MambaMixerWeights& w, const Tensor& h, std::int64_t batch, std::int64_t length,
               MambaMixerSaved* saved, std::string_view discretization) {
    const std::int64_t di = w.D.dim(0), n = w.A_log.dim(1), r = w.dt_proj.dim(1);
    const std::int64_t kc = w.conv_weight.dim(1), m = batch * length;
    const DType dtype = dtype_of<Real>();
    const Tensor xz = projection_forward(w.in_proj, h, if_defined(w.in_proj_bias));
    // p[b, t, c] = b_conv[c] + Σ_k W[c, k] · x[b, t − (d_conv − 1) + k, c]; xc = silu(p).
    const std::vector<Real> Wt = transposed_conv_weight<Real>(w.conv_weight);
    const Tensor conv_bias = w.conv_bias.defined() ? w.conv_bias.contiguous() : Tensor();
    Tensor pre = Tensor::empty({m, di}, dtype), xc = Tensor::empty({m, di}, dtype);
    const Real* px = xz.data<Real>();
    const Real* pb = conv_bias.defined() ? conv_bias.data<Real>() : nullptr;
    Real* ppre = pre.data<Real>();
    Real* pxc = xc.data<Real>();
#pragma omp parallel for num_threads(num_threads()) schedule(static) if (m * di * kc > 65536)
    for (std::int64_t row = 0; row < m; ++row) {
        const std::int64_t t = row % length;
        Real* p = ppre + row * di;
        for (std::int64_t c = 0; c < di; ++c) p[c] = pb != nullptr ? pb[c] : Real(0);
        for (std::int64_t k = std::max<std::int64_t>(0, kc - 1 - t); k < kc; ++k) {
            const Real* xs = px + (row - (kc - 1) + k) * 2 * di;
            const Real* wk = Wt.data() + k * di;
            for (std::int64_t c = 0; c < di; ++c) p[c] += wk[c] * xs[c];
        }
        nn_detail::silu_forward(p, pxc + row * di, di);
    }
    const Tensor x_dbl = projection_forward(w.x_proj, xc);  // (m, r + 2n)
    Tensor dt_low = Tensor::empty({m, r}, dtype);
    for (std::int64_t row = 0; row < m; ++row) {
        std::copy_n(x_dbl.data<Real>() + row * (r + 2 * n), r, dt_low.data<Real>() + row * r);
    }
    const Tensor delta = linear_forward(dt_low, w.dt_proj, nullptr);  // bias in the scan
    Tensor A = Tensor::empty({di, n}, dtype);
    const Tensor A_log = w.A_log.contiguous();
    for (std::int64_t k = 0; k < di * n; ++k) A.data<Real>()[k] = -std::exp(A_log.data<Real>()[k]);
    const TimeMajorScanResult scan = selective_scan_time_major(
        scan_inputs(w, batch, xc, delta, A, xz, x_dbl, discretization), saved != nullptr);
    const Tensor& y = scan.out;
    Tensor out = projection_forward(w.out_proj, y, if_defined(w.out_proj_bias));
    if (saved != nullptr) {
        *saved = {batch,
                  length,
                  std::string(discretization),
                  h,
                  xz,
                  pre,
                  xc,
                  x_dbl,
                  dt_low,
                  delta,
                  A,
                  y,
                  scan.checkpoints};
    }
    return out;
}

template <class Real>
Tensor backward(const MambaMixerWeights& w, const MambaMixerSaved& s, const Tensor& dout,
                MambaMixerWeights& g) {
    const std::int64_t di = w.D.dim(0), n = w.A_log.dim(1), r = w.dt_proj.dim(1);
    const std::int64_t kc = w.conv_weight.dim(1), length = s.length, m = s.batch * length;
    const DType dtype = dtype_of<Real>();
    const Tensor dy =
        projection_backward(w.out_proj, dout, s.y, g.out_proj, if_defined(g.out_proj_bias));
    const SelectiveScanGradients sg = selective_scan_time_major_backward(
        scan_inputs(w, s.batch, s.xc, s.delta, s.A, s.xz, s.x_dbl, s.discretization), dy,
        s.checkpoints);
    const auto accumulate = [](Tensor& into, const Tensor& add) {
        for (std::int64_t k = 0; k < into.numel(); ++k) into.data<Real>()[k] += add.data<Real>()[k];
    };
    accumulate(g.D, sg.dD);
    accumulate(g.dt_proj_bias, sg.ddelta_bias);
    for (std::int64_t k = 0; k < di * n; ++k) {  // A = −exp(A_log): ∂A/∂A_log = A
        g.A_log.data<Real>()[k] += sg.dA.data<Real>()[k] * s.A.data<Real>()[k];
    }
    // dx_dbl = [dδ_low, dB, dC]
    const Tensor ddt_low = linear_backward(sg.ddelta, s.dt_low, w.dt_proj, g.dt_proj, nullptr);
    Tensor dx_dbl = Tensor::empty({m, r + 2 * n}, dtype);
    for (std::int64_t row = 0; row < m; ++row) {
        Real* o = dx_dbl.data<Real>() + row * (r + 2 * n);
        std::copy_n(ddt_low.data<Real>() + row * r, r, o);
        std::copy_n(sg.dB.data<Real>() + row * n, n, o + r);
        std::copy_n(sg.dC.data<Real>() + row * n, n, o + r + n);
    }
    Tensor dxc = projection_backward(w.x_proj, dx_dbl, s.xc, g.x_proj);
    // dp = (dxc + du) ⊙ silu'(p).
    Real* pdp = dxc.data<Real>();
    const Real* pdu = sg.du.data<Real>();
    for (std::int64_t k = 0; k < m * di; ++k) pdp[k] += pdu[k];
    nn_detail::silu_backward(s.pre.data<Real>(), pdp, pdp, m * di);
    // The convolution's transpose: dx[src] += W[c, k] dp[t] for src = t − (d_conv − 1) + k; dz
    // from the scan; dW[c, k] += Σ_t dp[t] x[src]; db_conv += Σ_t dp[t]. Threads split the
    // channels, so each owns its dW and db entries.
    Tensor dxz(Shape{m, 2 * di}, dtype);
    Real* pdxz = dxz.data<Real>();
    const Real* pdz = sg.dz.data<Real>();
    for (std::int64_t row = 0; row < m; ++row)
        std::copy_n(pdz + row * di, di, pdxz + row * 2 * di + di);
    const std::vector<Real> Wt = transposed_conv_weight<Real>(w.conv_weight);
    std::vector<Real> dWt(static_cast<std::size_t>(kc * di), Real(0)),
        db(static_cast<std::size_t>(di), Real(0));
    const Real* px = s.xz.data<Real>();
    constexpr std::int64_t kChannels = 64;
#pragma omp parallel for num_threads(num_threads()) schedule(static) if (m * di * kc > 65536)
    for (std::int64_t c0 = 0; c0 < di; c0 += kChannels) {
        const std::int64_t c1 = std::min(di, c0 + kChannels);
        for (std::int64_t row = 0; row < m; ++row) {
            const std::int64_t t = row % length;
            const Real* d = pdp + row * di;
            for (std::int64_t k = std::max<std::int64_t>(0, kc - 1 - t); k < kc; ++k) {
                const std::int64_t src = row - (kc - 1) + k;
                const Real* wk = Wt.data() + k * di;
                const Real* xs = px + src * 2 * di;
                Real* dx = pdxz + src * 2 * di;
                Real* dwk = dWt.data() + k * di;
                for (std::int64_t c = c0; c < c1; ++c) {
                    dx[c] += wk[c] * d[c];
                    dwk[c] += d[c] * xs[c];
                }
            }
            for (std::int64_t c = c0; c < c1; ++c) db[c] += d[c];
        }
    }
    Real* pgw = g.conv_weight.data<Real>();
    for (std::int64_t c = 0; c < di; ++c) {
        for (std::int64_t k = 0; k < kc; ++k) pgw[c * kc + k] += dWt[k * di + c];
    }
    if (g.conv_bias.defined()) {
        Real* pgb = g.conv_bias.data<Real>();
        for (std::int64_t c = 0; c < di; ++c) pgb[c] += db[c];
    }
    return projection_backward(w.in_proj, dxz, s.h, g.in_proj, if_defined(g.in_proj_bias));
}

void check_weights(std::string_view where, const MambaMixerWeights& w, const Tensor& h) {
    check_argument(h.dtype() == DType::F32 || h.dtype() == DType::F64, where, "h dtype",
                   std::string(dtype_name(h.dtype())), "float32 or float64");
    check_argument(w.D.defined() && w.A_log.defined() && w.dt_proj.defined() &&
                       w.conv_weight.defined() && w.in_proj.defined() && w.x_proj.defined() &&
                       w.out_proj.defined() && w.dt_proj_bias.defined(),
                   where, "weights", "incomplete", "every weight but the optional biases");
    for (const Tensor* t : {&w.conv_weight, &w.dt_proj, &w.dt_proj_bias, &w.A_log, &w.D}) {
        check_argument(t->dtype() == h.dtype(), where, "weight dtype",
                       std::string(dtype_name(t->dtype())),
                       std::string(dtype_name(h.dtype())) + " (as h)");
    }
    const std::int64_t di = w.D.dim(0), n = w.A_log.dim(1), r = w.dt_proj.dim(1);
    const auto projection_shape = [&](const char* name, const Projection& p, std::int64_t out,
                                      std::int64_t in) {
        check_argument(p.dtype() == h.dtype(), where, std::string(name) + " dtype",
                       std::string(dtype_name(p.dtype())),
                       std::string(dtype_name(h.dtype())) + " (as h)");
        check_argument(
            (out < 0 || p.out_features() == out) && p.in_features() == in, where, name,
            fmt::format("{} × {}", p.out_features(), p.in_features()),
            fmt::format("{} × {}", out < 0 ? std::string("any") : std::to_string(out), in));
    };
    projection_shape("in_proj", w.in_proj, 2 * di, h.dim(1));
    check_shape(where, "conv_weight", w.conv_weight, {di, -1});
    projection_shape("x_proj", w.x_proj, r + 2 * n, di);
    check_shape(where, "A_log", w.A_log, {di, n});
    check_shape(where, "dt_proj_bias", w.dt_proj_bias, {di});
    projection_shape("out_proj", w.out_proj, -1, di);
}

}  // namespace

MambaMixerWeights MambaMixerWeights::zeros_like() const {
    const auto z = [](const Tensor& t) {
        return t.defined() ? Tensor(t.shape(), t.dtype()) : Tensor();
    };
    return {
        in_proj.zeros_like(), z(in_proj_bias), z(conv_weight), z(conv_bias), x_proj.zeros_like(),
        z(dt_proj),           z(dt_proj_bias), z(A_log),       z(D),         out_proj.zeros_like(),
        z(out_proj_bias)};
}

Tensor mamba_mixer_forward(const MambaMixerWeights& w, const Tensor& h_in, std::int64_t batch,
                           std::int64_t length, MambaMixerSaved* saved,
                           std::string_view discretization) {
    constexpr std::string_view where = "mamba_mixer_forward";
    check_argument(h_in.rank() == 2 && batch >= 1 && length >= 1 && h_in.dim(0) == batch * length,
                   where, "h", "shape " + shape_string(h_in.shape()),
                   "(batch · length, d_model) with batch = " + std::to_string(batch) +
                       ", length = " + std::to_string(length));
    check_weights(where, w, h_in);
    const Tensor h = h_in.contiguous();
    return h.dtype() == DType::F32 ? forward<float>(w, h, batch, length, saved, discretization)
                                   : forward<double>(w, h, batch, length, saved, discretization);
}

Tensor mamba_mixer_backward(const MambaMixerWeights& w, const MambaMixerSaved& saved,
                            const Tensor& dout_in, MambaMixerWeights& grads) {
    constexpr std::string_view where = "mamba_mixer_backward";
    check_argument(saved.h.defined(), where, "saved", "empty",
                   "what mamba_mixer_forward filled in");
    check_shape(where, "dout", dout_in, {saved.h.dim(0), w.out_proj.out_features()});
    const Tensor dout = dout_in.to(saved.h.dtype()).contiguous();
    return saved.h.dtype() == DType::F32 ? backward<float>(w, saved, dout, grads)
                                         : backward<double>(w, saved, dout, grads);
}

}  // namespace structseq
