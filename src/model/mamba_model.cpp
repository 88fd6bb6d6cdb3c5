#include "structseq/model/mamba_model.h"

#include "structseq/core/error.h"
#include "structseq/nn/linear.h"
#include "structseq/nn/rms_norm.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

namespace structseq {

namespace {

void check_weight(const Tensor& t, const std::string& name, const Shape& expected) {
    check_argument(t.defined(), "MambaModel", name, "missing", "a float32 tensor");
    check_argument(t.dtype() == DType::F32, "MambaModel", name + " dtype",
                   std::string(dtype_name(t.dtype())), "float32");
    check_shape("MambaModel", name, t, expected);
}

void check_optional(const Tensor& t, const std::string& name, const Shape& expected) {
    if (t.defined()) check_weight(t, name, expected);
}

}  // namespace

MambaModel::MambaModel(MambaConfig config, MambaWeights weights)
    : config_(config), weights_(std::move(weights)) {
    const MambaConfig& c = config_;
    const auto positive = [](std::int64_t v, const char* name) {
        check_argument(v >= 1, "MambaModel", name, std::to_string(v), ">= 1");
    };
    positive(c.d_model, "d_model");
    positive(c.n_layer, "n_layer");
    positive(c.vocab_size, "vocab_size");
    positive(c.d_state, "d_state");
    positive(c.d_conv, "d_conv");
    positive(c.d_inner, "d_inner");
    positive(c.dt_rank, "dt_rank");
    check_argument(c.norm_eps > 0, "MambaModel", "norm_eps", std::to_string(c.norm_eps), "> 0");
    check_argument(static_cast<std::int64_t>(weights_.layers.size()) == c.n_layer, "MambaModel",
                   "layers", std::to_string(weights_.layers.size()) + " layers",
                   "n_layer = " + std::to_string(c.n_layer));
    check_weight(weights_.embedding, "embedding", {c.vocab_size, c.d_model});
    check_weight(weights_.norm_f, "norm_f", {c.d_model});
    check_optional(weights_.head, "head", {c.vocab_size, c.d_model});
    for (std::int64_t i = 0; i < c.n_layer; ++i) {
        const MambaLayerWeights& layer = weights_.layers[static_cast<std::size_t>(i)];
        const MambaMixerWeights& w = layer.mixer;
        const std::string p = "layers." + std::to_string(i) + ".";
        check_weight(layer.norm, p + "norm", {c.d_model});
        check_weight(w.in_proj, p + "in_proj", {2 * c.d_inner, c.d_model});
        check_optional(w.in_proj_bias, p + "in_proj_bias", {2 * c.d_inner});
        check_weight(w.conv_weight, p + "conv_weight", {c.d_inner, c.d_conv});
        check_optional(w.conv_bias, p + "conv_bias", {c.d_inner});
        check_weight(w.x_proj, p + "x_proj", {c.dt_rank + 2 * c.d_state, c.d_inner});
        check_weight(w.dt_proj, p + "dt_proj", {c.d_inner, c.dt_rank});
        check_weight(w.dt_proj_bias, p + "dt_proj_bias", {c.d_inner});
        check_weight(w.A_log, p + "A_log", {c.d_inner, c.d_state});
        check_weight(w.D, p + "D", {c.d_inner});
        check_weight(w.out_proj, p + "out_proj", {c.d_model, c.d_inner});
        check_optional(w.out_proj_bias, p + "out_proj_bias", {c.d_model});
        Tensor A = Tensor::empty({c.d_inner, c.d_state}, DType::F32);
        const Tensor A_log = w.A_log.contiguous();
        for (std::int64_t k = 0; k < A.numel(); ++k) {
            A.data<float>()[k] = -std::exp(A_log.data<float>()[k]);
        }
        A_.push_back(std::move(A));
    }
}

std::int64_t MambaModel::parameter_count() const {
    const auto n = [](const Tensor& t) { return t.defined() ? t.numel() : 0; };
    std::int64_t total = n(weights_.embedding) + n(weights_.norm_f) + n(weights_.head);
    for (const MambaLayerWeights& layer : weights_.layers) {
        const MambaMixerWeights& w = layer.mixer;
        total += n(layer.norm) + n(w.in_proj) + n(w.in_proj_bias) + n(w.conv_weight) +
                 n(w.conv_bias) + n(w.x_proj) + n(w.dt_proj) + n(w.dt_proj_bias) + n(w.A_log) +
                 n(w.D) + n(w.out_proj) + n(w.out_proj_bias);
    }
    return total;
}

Tensor MambaModel::embed(const Tensor& tokens) const {
    const std::int64_t m = tokens.numel(), d = config_.d_model;
    const std::int64_t* ids = tokens.data<std::int64_t>();
    for (std::int64_t k = 0; k < m; ++k) {
        if (ids[k] < 0 || ids[k] >= config_.vocab_size) {
            fail_argument("MambaModel", "tokens", "holding " + std::to_string(ids[k]),
                          "token ids in [0, " + std::to_string(config_.vocab_size) + ")");
        }
    }
    const Tensor E = weights_.embedding.contiguous();
    Tensor x = Tensor::empty({m, d}, DType::F32);
    for (std::int64_t k = 0; k < m; ++k) {
        std::copy_n(E.data<float>() + ids[k] * d, d, x.data<float>() + k * d);
    }
    return x;
}

Tensor MambaModel::head_logits(const Tensor& x) const {
    const Tensor h = rms_norm_forward(x, weights_.norm_f, config_.norm_eps);
    return linear_forward(h, weights_.head.defined() ? weights_.head : weights_.embedding, nullptr);
}

Tensor MambaModel::logits(const Tensor& tokens_in, bool last_only) const {
    check_argument(tokens_in.dtype() == DType::I64, "MambaModel.logits", "tokens dtype",
                   std::string(dtype_name(tokens_in.dtype())), "int64");
    check_argument(tokens_in.rank() == 2 && tokens_in.dim(0) >= 1 && tokens_in.dim(1) >= 1,
                   "MambaModel.logits", "tokens", "shape " + shape_string(tokens_in.shape()),
                   "(batch, L) with batch, L >= 1");
    const Tensor tokens = tokens_in.contiguous();
    const std::int64_t batch = tokens.dim(0), length = tokens.dim(1);
    Tensor x = embed(tokens);
    float* px = x.data<float>();
    for (std::int64_t l = 0; l < config_.n_layer; ++l) {
        const MambaLayerWeights& layer = weights_.layers[static_cast<std::size_t>(l)];
        const Tensor h = rms_norm_forward(x, layer.norm, config_.norm_eps);
        const Tensor out = mamba_mixer_forward(layer.mixer, h, batch, length);
        const float* po = out.data<float>();
#pragma omp simd
        for (std::int64_t k = 0; k < x.numel(); ++k) px[k] += po[k];
    }
    if (last_only) {
        Tensor last = Tensor::empty({batch, config_.d_model}, DType::F32);
        for (std::int64_t b = 0; b < batch; ++b) {
            std::copy_n(px + ((b + 1) * length - 1) * config_.d_model, config_.d_model,
                        last.data<float>() + b * config_.d_model);
        }
        return head_logits(last).reshape({batch, 1, config_.vocab_size});
    }
    return head_logits(x).reshape({batch, length, config_.vocab_size});
}

}  // namespace structseq
