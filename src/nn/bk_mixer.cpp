#include "structseq/nn/bk_mixer.h"

#include "structseq/bk/birman_schwinger_core.h"
#include "structseq/core/error.h"
#include "structseq/nn/linear.h"

#include <complex>
#include <string_view>

namespace structseq {

namespace {

constexpr std::complex<double> kZ{0.0, 1.0};

void check_weights(std::string_view where, const BkMixerWeights& w, const Tensor& h) {
    check_argument(w.defined() && w.in_proj_bias.defined() && w.out_proj.defined() &&
                       w.out_proj_bias.defined(),
                   where, "weights", "incomplete",
                   "in_proj, in_proj_bias, out_proj, out_proj_bias");
    check_argument(h.dtype() == DType::F32 || h.dtype() == DType::F64, where, "h dtype",
                   std::string(dtype_name(h.dtype())), "float32 or float64");
    const std::int64_t c = w.channels();
    check_shape(where, "in_proj", w.in_proj, {c, h.dim(1)});
    check_shape(where, "in_proj_bias", w.in_proj_bias, {c});
    check_shape(where, "out_proj", w.out_proj, {-1, 2 * c});
    check_shape(where, "out_proj_bias", w.out_proj_bias, {w.out_proj.dim(0)});
}

// (batch, X, Y, …) → (batch, Y, X, …), contiguous.
Tensor swap_middle(const Tensor& t) {
    return t.transpose(1, 2).contiguous();
}

}  // namespace

BkMixerWeights BkMixerWeights::zeros_like() const {
    const auto z = [](const Tensor& t) {
        return t.defined() ? Tensor(t.shape(), t.dtype()) : Tensor();
    };
    return {z(in_proj), z(in_proj_bias), z(out_proj), z(out_proj_bias)};
}

Tensor bk_mixer_forward(const BkMixerWeights& w, const Tensor& h_in, std::int64_t batch,
                        std::int64_t length, BkMixerSaved* saved) {
    constexpr std::string_view where = "bk_mixer_forward";
    check_argument(
        h_in.rank() == 2 && batch >= 1 && length >= 1 && h_in.dim(0) == batch * length, where, "h",
        "shape " + shape_string(h_in.shape()),
        fmt::format("(batch · length, d_model) with batch = {}, length = {}", batch, length));
    check_weights(where, w, h_in);
    const Tensor h = h_in.contiguous();
    const std::int64_t c = w.channels();
    BirmanSchwingerOptions options;
    options.n_seq = length;
    options.z = kZ;
    options.mode = BkMode::Causal;
    options.dtype = h.dtype() == DType::F64 ? DType::C128 : DType::C64;
    auto core = std::make_shared<BirmanSchwingerCore>(options);
    const Tensor v = swap_middle(linear_forward(h, w.in_proj, &w.in_proj_bias)
                                     .reshape({batch, length, c}));  // (batch, C, L)
    const Tensor features =
        swap_middle(core->forward(v)).reshape({batch * length, 2 * c});  // (M, 2C)
    Tensor out = linear_forward(features, w.out_proj, &w.out_proj_bias);
    if (saved != nullptr) *saved = {batch, length, h, features, std::move(core)};
    return out;
}

Tensor bk_mixer_backward(const BkMixerWeights& w, BkMixerSaved& s, const Tensor& dout,
                         BkMixerWeights& g) {
    constexpr std::string_view where = "bk_mixer_backward";
    check_argument(s.core != nullptr, where, "saved", "empty", "what bk_mixer_forward filled in");
    const std::int64_t c = w.channels();
    check_shape(where, "dout", dout, {s.h.dim(0), w.out_proj.dim(0)});
    const Tensor dfeatures = linear_backward(dout.to(s.h.dtype()).contiguous(), s.features,
                                             w.out_proj, g.out_proj, &g.out_proj_bias);
    const Tensor dv =
        s.core->backward(swap_middle(dfeatures.reshape({s.batch, s.length, c, 2})));  // (B, C, L)
    const Tensor dpotential = swap_middle(dv).reshape({s.batch * s.length, c});
    s.core.reset();  // each forward serves one backward
    return linear_backward(dpotential, s.h, w.in_proj, g.in_proj, &g.in_proj_bias);
}

Tensor bk_mixer_step(const BkMixerWeights& w, const Tensor& h_in, Tensor& pivots) {
    constexpr std::string_view where = "bk_mixer_step";
    check_weights(where, w, h_in);
    const std::int64_t batch = h_in.dim(0), c = w.channels();
    check_shape(where, "pivots", pivots, {batch, c, 2});
    check_argument(pivots.dtype() == h_in.dtype() && pivots.is_contiguous(), where, "pivots dtype",
                   std::string(dtype_name(pivots.dtype())),
                   std::string(dtype_name(h_in.dtype())) + ", contiguous");
    const Tensor v = linear_forward(h_in.contiguous(), w.in_proj, &w.in_proj_bias);  // (batch, C)
    Tensor features = Tensor::empty({batch, 2 * c}, h_in.dtype());
    const auto run = [&]<class Real>(Real) {
        const Real* pv = v.data<Real>();
        Real* pd = pivots.data<Real>();
        Real* pf = features.data<Real>();
        for (std::int64_t k = 0; k < batch * c; ++k) {
            // d_t = 2 + v_t − z − 1/d_{t−1} (no coupling before the first token), f_t = 1/d_t.
            const std::complex<double> previous(pd[2 * k], pd[2 * k + 1]);
            std::complex<double> d = 2.0 + static_cast<double>(pv[k]) - kZ;
            if (previous != 0.0) d -= 1.0 / previous;
            const std::complex<double> f = 1.0 / d;
            pd[2 * k] = static_cast<Real>(d.real());
            pd[2 * k + 1] = static_cast<Real>(d.imag());
            pf[2 * k] = static_cast<Real>(f.real());
            pf[2 * k + 1] = static_cast<Real>(f.imag());
        }
    };
    h_in.dtype() == DType::F32 ? run(0.0f) : run(0.0);
    return linear_forward(features, w.out_proj, &w.out_proj_bias);
}

}  // namespace structseq
