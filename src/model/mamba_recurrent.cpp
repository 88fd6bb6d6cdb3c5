// MambaModel's recurrent form: one token per call, per layer the convolution window and the
// scan state carried in MambaState (see mamba_model.h).

#include "nn/silu.h"
#include "ssm/lane_exp.h"
#include "structseq/core/cpu_dispatch.h"
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

float silu(float x) {
    return x / (1.0f + std::exp(-x));
}

// softplus as PyTorch computes it (linear above 20).
float softplus(float x) {
    return x > 20.0f ? x : std::log1p(std::exp(x));
}

// The causal depthwise convolution's step: each channel's window (d_conv values) shifts by one
// and takes the new input, out[c] = bias[c] + Σ_k W[c, k] window[c, k]. One thread, d_conv = 4
// unrolled: at mamba-130m's shape this beat a threaded loop with d_conv read at run time.
template <int Taps>
STRUCTSEQ_ALWAYS_INLINE void conv_window_step(float* window, const float* xz, const float* W,
                                              const float* bias, float* out, std::int64_t batch,
                                              std::int64_t channels, std::int64_t taps) {
    const std::int64_t kc = Taps > 0 ? Taps : taps;
    for (std::int64_t b = 0; b < batch; ++b) {
        for (std::int64_t c = 0; c < channels; ++c) {
            float* s = window + (b * channels + c) * kc;
            for (std::int64_t k = 0; k + 1 < kc; ++k) s[k] = s[k + 1];
            s[kc - 1] = xz[b * 2 * channels + c];
            float acc = bias != nullptr ? bias[c] : 0.0f;
            for (std::int64_t k = 0; k < kc; ++k) acc += W[c * kc + k] * s[k];
            out[b * channels + c] = acc;
        }
    }
}

STRUCTSEQ_CPU_CLONES
void conv_step(float* window, const float* xz, const float* W, const float* bias, float* out,
               std::int64_t batch, std::int64_t channels, std::int64_t taps) {
    if (taps == 4) {
        conv_window_step<4>(window, xz, W, bias, out, batch, channels, taps);
    } else {
        conv_window_step<0>(window, xz, W, bias, out, batch, channels, taps);
    }
}

// step()'s projection: through the bfloat16 copy when there is one, else `p`.
Tensor step_projection(const BFloat16Matrix& half, const Projection& p, const Tensor& x,
                       const Tensor* bias) {
    return half.defined() ? half.apply(x, bias) : projection_forward(p, x, bias);
}

// One token of one sequence, channels [c0, c1): the pointers of mixer_step's scan (A (d_inner,
// N), the step's δ, u, z (d_inner), B_t and C_t (N), D, the state (d_inner, N), y (d_inner)).
struct StepOperands {
    std::int64_t n = 0;
    const float *A, *delta, *u, *z, *Bt, *Ct, *D;
    float *state, *y;
};

// ZOH with N a multiple of 16: Δ = softplus(δ) and silu(z) sixteen channels at a time, then each
// channel's N states as 16-lane vectors: s ← exp(Δ A_c) ⊙ s + Δ u B_t, y = (C_t · s + D u) silu(z).
STRUCTSEQ_CPU_CLONES
void zoh_step(const StepOperands& op, std::int64_t c0, std::int64_t c1) {
    using ssm_detail::lane_exp;
    using ssm_detail::lane_softplus;
    using ssm_detail::Lanes16f;
    for (std::int64_t base = c0; base < c1; base += 16) {
        const std::int64_t count = std::min<std::int64_t>(16, c1 - base);
        alignas(64) float dt[16] = {}, gate[16] = {};
        std::copy_n(op.delta + base, count, dt);
        std::copy_n(op.z + base, count, gate);
        Lanes16f zv = load_lanes<Lanes16f>(gate);
        store_lanes(dt, lane_softplus(load_lanes<Lanes16f>(dt)));
        store_lanes(gate, zv * ssm_detail::lane_sigmoid(zv));
        for (std::int64_t k = 0; k < count; ++k) {
            const std::int64_t c = base + k;
            const float step = dt[k], gain = step * op.u[c];
            float* st = op.state + c * op.n;
            Lanes16f acc = {};
            for (std::int64_t j = 0; j < op.n; j += 16) {
                const Lanes16f decay = lane_exp(step * load_lanes<Lanes16f>(op.A + c * op.n + j));
                const Lanes16f x =
                    decay * load_lanes<Lanes16f>(st + j) + gain * load_lanes<Lanes16f>(op.Bt + j);
                store_lanes(st + j, x);
                acc += load_lanes<Lanes16f>(op.Ct + j) * x;
            }
            op.y[c] = (lane_sum(acc) + op.D[c] * op.u[c]) * gate[k];
        }
    }
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
        const Tensor h = rms_norm_forward(x, weights_.layers[static_cast<std::size_t>(l)].norm,
                                          config_.norm_eps);
        const MambaLayerWeights& weights = weights_.layers[static_cast<std::size_t>(l)];
        const Tensor out =
            is_attention_layer(l)
                ? attention_mixer_step(weights.attention, attention_options(), h, state.tokens_seen,
                                       state.attention[static_cast<std::size_t>(l)])
            : is_bk_layer(l) ? bk_mixer_step(weights.bk, h, state.ssm[static_cast<std::size_t>(l)])
                             : mixer_step(l, h, state);
        const float* po = out.data<float>();
        for (std::int64_t k = 0; k < x.numel(); ++k) px[k] += po[k];
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

// One token per sequence: the mixer of mamba_model.h with the convolution window shifted by one
// and the scan advanced by one step,
//   s ← Ā ⊙ s + B̄ x (zoh: Ā = exp(Δ A), B̄ = Δ B; bilinear as selective_scan.h),
//   y = C · s + D x,   y ← y · silu(z).
Tensor MambaModel::mixer_step(std::int64_t layer, const Tensor& h, MambaState& state) const {
    const MambaMixerWeights& w = weights_.layers[static_cast<std::size_t>(layer)].mixer;
    const std::int64_t di = config_.d_inner, n = config_.d_state, r = config_.dt_rank;
    const std::int64_t kc = config_.d_conv, batch = state.batch;
    const BFloat16Mixer& half = bf16_mixers_[static_cast<std::size_t>(layer)];
    const Tensor xz = step_projection(half.in_proj, w.in_proj, h, if_defined(w.in_proj_bias));
    const Tensor W = w.conv_weight.contiguous();
    const Tensor conv_bias = w.conv_bias.defined() ? w.conv_bias.contiguous() : Tensor();
    float* window = state.conv[static_cast<std::size_t>(layer)].data<float>();
    Tensor xc = Tensor::empty({batch, di}, DType::F32);
    const float* pxz = xz.data<float>();
    const float* pw = W.data<float>();
    const float* pb = conv_bias.defined() ? conv_bias.data<float>() : nullptr;
    float* pxc = xc.data<float>();
    conv_step(window, pxz, pw, pb, pxc, batch, di, kc);
    nn_detail::silu_forward(pxc, pxc, batch * di);
    const Tensor x_dbl = step_projection(half.x_proj, w.x_proj, xc, nullptr);  // (batch, r + 2n)
    Tensor dt_low = Tensor::empty({batch, r}, DType::F32);
    for (std::int64_t b = 0; b < batch; ++b) {
        std::copy_n(x_dbl.data<float>() + b * (r + 2 * n), r, dt_low.data<float>() + b * r);
    }
    const Tensor delta =
        step_projection(half.dt_proj, w.dt_proj, dt_low, &w.dt_proj_bias);  // (batch, di)
    const Tensor D = w.D.contiguous();
    const float* A = A_[static_cast<std::size_t>(layer)].data<float>();
    float* ssm = state.ssm[static_cast<std::size_t>(layer)].data<float>();
    Tensor y = Tensor::empty({batch, di}, DType::F32);
    // Threads pay off from about 16k state elements per step (mamba-130m: 24k); below, the
    // fork and join cost more than the loops (a 0.5 M-parameter model, 4k elements, generated
    // 9 000 tokens/s on one thread and 240–1 100 on two).
    const bool parallel = batch * di * n >= 16384;
    const bool bilinear = config_.discretization == "bilinear";
    const float* pdelta = delta.data<float>();
    const float* pD = D.data<float>();
    const float* pdbl = x_dbl.data<float>();
    float* py = y.data<float>();
    if (!bilinear && n % 16 == 0) {  // Mamba's case: the vectorized step
        constexpr std::int64_t kChannels = 128;
        const std::int64_t parts = (di + kChannels - 1) / kChannels;
#pragma omp parallel for num_threads(num_threads()) schedule(static) if (parallel)
        for (std::int64_t task = 0; task < batch * parts; ++task) {
            const std::int64_t b = task / parts, c0 = (task % parts) * kChannels;
            const float* Bt = pdbl + b * (r + 2 * n) + r;
            const StepOperands op{
                n,      A,  pdelta + b * di,  pxc + b * di, pxz + b * 2 * di + di, Bt,
                Bt + n, pD, ssm + b * di * n, py + b * di};
            zoh_step(op, c0, std::min(di, c0 + kChannels));
        }
        return step_projection(half.out_proj, w.out_proj, y, if_defined(w.out_proj_bias));
    }
#pragma omp parallel for collapse(2) num_threads(num_threads()) schedule(static) if (parallel)
    for (std::int64_t b = 0; b < batch; ++b) {
        for (std::int64_t c = 0; c < di; ++c) {
            const float* Bt = pdbl + b * (r + 2 * n) + r;
            const float* Ct = Bt + n;
            const float dt = softplus(pdelta[b * di + c]);
            const float u = pxc[b * di + c];
            float* s = ssm + (b * di + c) * n;
            float acc = 0.0f;
            for (std::int64_t j = 0; j < n; ++j) {
                const float q = dt * A[c * n + j];
                s[j] = bilinear ? (1 + q / 2) / (1 - q / 2) * s[j] + dt * Bt[j] * u / (1 - q / 2)
                                : std::exp(q) * s[j] + dt * Bt[j] * u;
                acc += Ct[j] * s[j];
            }
            py[b * di + c] = (acc + pD[c] * u) * silu(pxz[b * 2 * di + di + c]);
        }
    }
    return step_projection(half.out_proj, w.out_proj, y, if_defined(w.out_proj_bias));
}

}  // namespace structseq
