// MambaModel's recurrent form: one token per call, per layer the convolution window and the
// scan state carried in MambaState (see mamba_model.h).

#include "dense_mixer_step.h"
#include "mixer_step_kernels.h"
#include "structseq/core/error.h"
#include "structseq/core/packed_tensors.h"
#include "structseq/core/threads.h"
#include "structseq/model/mamba_model.h"
#include "structseq/nn/linear.h"
#include "structseq/nn/rms_norm.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace structseq {

namespace {

// step()'s projection: through the bfloat16 copy when there is one, else `p`.
Tensor step_projection(const BFloat16Matrix& half, const Projection& p, const Tensor& x,
                       const Tensor* bias) {
    return half.defined() ? half.apply(x, bias) : projection_forward(p, x, bias);
}

// An optional weight, contiguous, or undefined.
Tensor contiguous_if_defined(const Tensor& t) {
    return t.defined() ? t.contiguous() : Tensor();
}

const float* data_or_null(const Tensor& t) {
    return t.defined() ? t.data<float>() : nullptr;
}

}  // namespace

MambaState MambaModel::initial_state(std::int64_t batch, const KvCacheOptions& kv_cache) const {
    check_argument(batch >= 1, "MambaModel.initial_state", "batch", std::to_string(batch), ">= 1");
    MambaState state;
    state.batch = batch;
    for (std::int64_t l = 0; l < config_.n_layer; ++l) {
        state.attention.emplace_back();
        if (is_attention_layer(l)) {
            for (std::int64_t b = 0; b < batch; ++b) {
                state.attention.back().push_back(
                    attention_mixer_cache(weights_.layers[static_cast<std::size_t>(l)].attention,
                                          attention_options(), config_.d_model, kv_cache));
            }
            state.conv.emplace_back();
            state.ssm.emplace_back();
            continue;
        }
        if (is_bk_layer(l)) {
            const std::int64_t channels =
                weights_.layers[static_cast<std::size_t>(l)].bk.channels();
            state.conv.emplace_back();
            state.ssm.emplace_back(Shape{batch, channels, 2}, DType::F32);
            continue;
        }
        state.conv.emplace_back(Shape{batch, config_.d_inner, config_.d_conv}, DType::F32);
        state.ssm.emplace_back(Shape{batch, config_.d_inner, config_.d_state}, DType::F32);
    }
    std::vector<Tensor*> carried;  // every layer's state in one buffer (core/packed_tensors.h)
    for (Tensor& t : state.conv) carried.push_back(&t);
    for (Tensor& t : state.ssm) carried.push_back(&t);
    pack_tensors(carried);
    return state;
}

std::int64_t MambaState::kv_cache_bytes() const {
    std::int64_t bytes = 0;
    for (const auto& layer : attention) {
        for (const AttentionMixerCache& cache : layer) {
            if (cache.kv != nullptr) bytes += cache.kv->memory_bytes();
        }
    }
    return bytes;
}

Tensor MambaModel::step(const Tensor& tokens_in, MambaState& state) const {
    check_tokens("MambaModel.step", tokens_in);
    check_argument(weights_.embedding.dtype() == DType::F32, "MambaModel.step", "weights dtype",
                   std::string(dtype_name(weights_.embedding.dtype())), "float32");
    check_argument(
        state.batch >= 1 && static_cast<std::int64_t>(state.conv.size()) == config_.n_layer,
        "MambaModel.step", "state", "not made by initial_state for this model",
        "MambaModel.initial_state(batch)");
    check_shape("MambaModel.step", "tokens", tokens_in, {state.batch});
    Tensor x = embed(tokens_in.contiguous(), state.tokens_seen);
    float* px = x.data<float>();
    for (std::int64_t l = 0; l < config_.n_layer; ++l) {
        const MambaLayerWeights& weights = weights_.layers[static_cast<std::size_t>(l)];
        if (is_attention_layer(l) || is_bk_layer(l)) {
            const Tensor h = rms_norm_forward(x, weights.norm, config_.norm_eps);
            const Tensor out =
                is_attention_layer(l)
                    ? attention_mixer_step(weights.attention, attention_options(), h,
                                           state.tokens_seen,
                                           state.attention[static_cast<std::size_t>(l)])
                    : bk_mixer_step(weights.bk, h, state.ssm[static_cast<std::size_t>(l)]);
            const float* po = out.data<float>();
            for (std::int64_t k = 0; k < x.numel(); ++k) px[k] += po[k];
        } else {
            mixer_step(l, x, state);
        }
        if (config_.ffn_dim == 0) continue;
        const MambaLayerWeights& layer = weights_.layers[static_cast<std::size_t>(l)];
        const Tensor ffn = feed_forward_forward(
            layer.ffn, rms_norm_forward(x, layer.ffn_norm, config_.norm_eps), config_.activation);
        for (std::int64_t k = 0; k < x.numel(); ++k) px[k] += ffn.data<float>()[k];
    }
    ++state.tokens_seen;
    if (!bf16_head_.defined()) return head_logits(x);
    return bf16_head_.apply(rms_norm_forward(x, weights_.norm_f, config_.norm_eps));
}

// One token per sequence: the layer's RMSNorm, then the mixer of mamba_model.h with the
// convolution window shifted by one and the scan advanced by one step
// (model/mixer_step_kernels.h); adds the mixer's output into x. One sequence with dense
// projections runs in one parallel region (model/dense_mixer_step.h); a batch, or structured
// projections, goes product by product, each over the batch.
void MambaModel::mixer_step(std::int64_t layer, Tensor& x, MambaState& state) const {
    const Tensor& norm = weights_.layers[static_cast<std::size_t>(layer)].norm;
    const MambaMixerWeights& w = weights_.layers[static_cast<std::size_t>(layer)].mixer;
    const std::int64_t di = config_.d_inner, n = config_.d_state, r = config_.dt_rank;
    const std::int64_t kc = config_.d_conv, batch = state.batch;
    const BFloat16Mixer& half = bf16_mixers_[static_cast<std::size_t>(layer)];
    const Tensor W = w.conv_weight.contiguous();
    const Tensor conv_bias = contiguous_if_defined(w.conv_bias);
    const Tensor D = w.D.contiguous();
    const Tensor dt_bias = w.dt_proj_bias.contiguous();
    const float* A = A_[static_cast<std::size_t>(layer)].data<float>();
    float* window = state.conv[static_cast<std::size_t>(layer)].data<float>();
    float* ssm = state.ssm[static_cast<std::size_t>(layer)].data<float>();
    const bool bilinear = config_.discretization == "bilinear";
    const bool dense = w.in_proj.kind == Projection::Kind::Dense &&
                       w.x_proj.kind == Projection::Kind::Dense &&
                       w.out_proj.kind == Projection::Kind::Dense;
    if (batch == 1 && dense) {
        const Tensor norm_weight = norm.contiguous();
        const Tensor in_bias = contiguous_if_defined(w.in_proj_bias);
        const Tensor out_bias = contiguous_if_defined(w.out_proj_bias);
        const auto fill = [&]<class Weight>(model_detail::DenseMixerStep<Weight>& s) {
            s.d_model = config_.d_model;
            s.d_inner = di;
            s.d_state = n;
            s.dt_rank = r;
            s.d_conv = kc;
            s.bilinear = bilinear;
            s.in_bias = data_or_null(in_bias);
            s.conv_weight = W.data<float>();
            s.conv_bias = data_or_null(conv_bias);
            s.dt_bias = dt_bias.data<float>();
            s.A = A;
            s.D = D.data<float>();
            s.out_bias = data_or_null(out_bias);
            s.norm_weight = norm_weight.data<float>();
            s.norm_eps = config_.norm_eps;
            s.window = window;
            s.state = ssm;
        };
        if (half.in_proj.defined()) {
            model_detail::DenseMixerStep<std::uint16_t> s;
            fill(s);
            s.in_proj = half.in_proj.bits();
            s.x_proj = half.x_proj.bits();
            s.dt_proj = half.dt_proj.bits();
            s.out_proj = half.out_proj.bits();
            model_detail::dense_mixer_step(s, x.data<float>());
        } else {
            const Tensor in_proj = w.in_proj.weight.contiguous();
            const Tensor x_proj = w.x_proj.weight.contiguous();
            const Tensor dt_proj = w.dt_proj.contiguous();
            const Tensor out_proj = w.out_proj.weight.contiguous();
            model_detail::DenseMixerStep<float> s;
            fill(s);
            s.in_proj = in_proj.data<float>();
            s.x_proj = x_proj.data<float>();
            s.dt_proj = dt_proj.data<float>();
            s.out_proj = out_proj.data<float>();
            model_detail::dense_mixer_step(s, x.data<float>());
        }
        return;
    }
    const Tensor h = rms_norm_forward(x, norm, config_.norm_eps);
    const Tensor xz = step_projection(half.in_proj, w.in_proj, h, if_defined(w.in_proj_bias));
    Tensor xc = Tensor::empty({batch, di}, DType::F32);
    const float* pxz = xz.data<float>();
    float* pxc = xc.data<float>();
    for (std::int64_t b = 0; b < batch; ++b) {
        model_detail::conv_silu_step(window + b * di * kc, pxz + b * 2 * di, W.data<float>(),
                                     data_or_null(conv_bias), pxc + b * di, kc, 0, di);
    }
    const Tensor x_dbl = step_projection(half.x_proj, w.x_proj, xc, nullptr);  // (batch, r + 2n)
    Tensor dt_low = Tensor::empty({batch, r}, DType::F32);
    for (std::int64_t b = 0; b < batch; ++b) {
        std::copy_n(x_dbl.data<float>() + b * (r + 2 * n), r, dt_low.data<float>() + b * r);
    }
    const Tensor delta =
        step_projection(half.dt_proj, w.dt_proj, dt_low, &w.dt_proj_bias);  // (batch, di)
    Tensor y = Tensor::empty({batch, di}, DType::F32);
    // Threads pay off from about 16k state elements per step (mamba-130m: 24k); below, the
    // fork and join cost more than the loops (a 0.5 M-parameter model, 4k elements, generated
    // 9 000 tokens/s on one thread and 240–1 100 on two).
    const bool parallel = batch * di * n >= 16384;
    const float* pdelta = delta.data<float>();
    const float* pdbl = x_dbl.data<float>();
    float* py = y.data<float>();
    constexpr std::int64_t kChannels = 128;
    const std::int64_t parts = (di + kChannels - 1) / kChannels;
#pragma omp parallel for num_threads(num_threads()) schedule(static) if (parallel)
    for (std::int64_t task = 0; task < batch * parts; ++task) {
        const std::int64_t b = task / parts, c0 = (task % parts) * kChannels;
        const float* Bt = pdbl + b * (r + 2 * n) + r;
        const model_detail::ScanStepOperands op{n,
                                                bilinear,
                                                A,
                                                pdelta + b * di,
                                                pxc + b * di,
                                                pxz + b * 2 * di + di,
                                                Bt,
                                                Bt + n,
                                                D.data<float>(),
                                                ssm + b * di * n,
                                                py + b * di};
        model_detail::scan_step(op, c0, std::min(di, c0 + kChannels));
    }
    const Tensor out = step_projection(half.out_proj, w.out_proj, y, if_defined(w.out_proj_bias));
    const float* po = out.data<float>();
    float* px = x.data<float>();
    for (std::int64_t k = 0; k < x.numel(); ++k) px[k] += po[k];
}

}  // namespace structseq
