#include "structseq/model/mamba_model.h"

#include "structseq/core/error.h"
#include "structseq/core/packed_tensors.h"
#include "structseq/nn/linear.h"
#include "structseq/nn/rms_norm.h"

#include "row_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace structseq {

namespace {

using model_detail::add_in_place;
using model_detail::dropout_mask;
using model_detail::gather_rows;
using model_detail::multiply_in_place;

void check_weight(const Tensor& t, const std::string& name, const Shape& expected, DType dtype) {
    check_argument(t.defined(), "MambaModel", name, "missing", "a tensor");
    check_argument(t.dtype() == dtype, "MambaModel", name + " dtype",
                   std::string(dtype_name(t.dtype())),
                   std::string(dtype_name(dtype)) + " (as the embedding)");
    check_shape("MambaModel", name, t, expected);
}

void check_projection(const Projection& p, const std::string& name, std::int64_t out,
                      std::int64_t in, DType dtype) {
    check_argument(p.defined(), "MambaModel", name, "missing", "a projection");
    check_argument(p.dtype() == dtype, "MambaModel", name + " dtype",
                   std::string(dtype_name(p.dtype())),
                   std::string(dtype_name(dtype)) + " (as the embedding)");
    check_argument(p.out_features() == out && p.in_features() == in, "MambaModel", name,
                   fmt::format("{} × {} ({})", p.out_features(), p.in_features(), p.kind_name()),
                   fmt::format("{} × {}", out, in));
}

void check_optional(const Tensor& t, const std::string& name, const Shape& expected, DType dtype);

void check_feed_forward(const MambaConfig& c, const MambaLayerWeights& layer, const std::string& p,
                        DType dtype) {
    if (c.ffn_dim > 0) {
        check_weight(layer.ffn_norm, p + "ffn_norm", {c.d_model}, dtype);
        check_weight(layer.ffn.fc1, p + "ffn.fc1", {c.ffn_dim, c.d_model}, dtype);
        check_optional(layer.ffn.fc1_bias, p + "ffn.fc1_bias", {c.ffn_dim}, dtype);
        check_weight(layer.ffn.fc2, p + "ffn.fc2", {c.d_model, c.ffn_dim}, dtype);
        check_optional(layer.ffn.fc2_bias, p + "ffn.fc2_bias", {c.d_model}, dtype);
    } else {
        check_argument(!layer.ffn_norm.defined() && !layer.ffn.defined(), "MambaModel", p + "ffn",
                       "given", "no feed-forward weights with ffn_dim = 0");
    }
}

void check_optional(const Tensor& t, const std::string& name, const Shape& expected, DType dtype) {
    if (t.defined()) check_weight(t, name, expected, dtype);
}

}  // namespace

MambaWeights MambaWeights::zeros_like() const {
    const auto z = [](const Tensor& t) {
        return t.defined() ? Tensor(t.shape(), t.dtype()) : Tensor();
    };
    MambaWeights g;
    g.embedding = z(embedding);
    g.norm_f = z(norm_f);
    g.head = z(head);
    g.positions = z(positions);
    for (const MambaLayerWeights& l : layers) {
        g.layers.push_back({z(l.norm), l.mixer.zeros_like(), l.bk.zeros_like(),
                            l.attention.zeros_like(), z(l.ffn_norm), l.ffn.zeros_like()});
    }
    return g;
}

std::vector<std::pair<std::string, Tensor*>> MambaWeights::named_tensors() {
    std::vector<std::pair<std::string, Tensor*>> out;
    const auto add = [&](std::string name, Tensor& t) {
        if (t.defined()) out.emplace_back(std::move(name), &t);
    };
    const auto add_projection = [&](const std::string& name, Projection& p) {
        add(name + (p.kind == Projection::Kind::Dense ? "" : ".weight"), p.weight);
        add(name + ".blocks", p.blocks);
        add(name + ".U", p.U);
        add(name + ".V", p.V);
        add(name + ".diag", p.diag);
    };
    add("embedding", embedding);
    add("positions", positions);
    for (std::size_t l = 0; l < layers.size(); ++l) {
        const std::string p = "layers." + std::to_string(l) + ".";
        MambaLayerWeights& layer = layers[l];
        MambaMixerWeights& m = layer.mixer;
        add(p + "norm", layer.norm);
        add_projection(p + "mixer.in_proj", m.in_proj);
        add(p + "mixer.in_proj_bias", m.in_proj_bias);
        add(p + "mixer.conv_weight", m.conv_weight);
        add(p + "mixer.conv_bias", m.conv_bias);
        add_projection(p + "mixer.x_proj", m.x_proj);
        add(p + "mixer.dt_proj", m.dt_proj);
        add(p + "mixer.dt_proj_bias", m.dt_proj_bias);
        add(p + "mixer.A_log", m.A_log);
        add(p + "mixer.D", m.D);
        add_projection(p + "mixer.out_proj", m.out_proj);
        add(p + "mixer.out_proj_bias", m.out_proj_bias);
        add(p + "bk.in_proj", layer.bk.in_proj);
        add(p + "bk.in_proj_bias", layer.bk.in_proj_bias);
        add(p + "bk.out_proj", layer.bk.out_proj);
        add(p + "bk.out_proj_bias", layer.bk.out_proj_bias);
        add(p + "attention.qkv", layer.attention.qkv);
        add(p + "attention.out_proj", layer.attention.out_proj);
        add(p + "attention.log_lambda", layer.attention.log_lambda);
        add(p + "ffn_norm", layer.ffn_norm);
        add(p + "ffn.fc1", layer.ffn.fc1);
        add(p + "ffn.fc1_bias", layer.ffn.fc1_bias);
        add(p + "ffn.fc2", layer.ffn.fc2);
        add(p + "ffn.fc2_bias", layer.ffn.fc2_bias);
    }
    add("norm_f", norm_f);
    add("head", head);
    return out;
}

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
    check_argument(c.discretization == "zoh" || c.discretization == "bilinear", "MambaModel",
                   "discretization", c.discretization, "zoh or bilinear");
    positive(c.dt_rank, "dt_rank");
    check_argument(c.ffn_dim >= 0, "MambaModel", "ffn_dim", std::to_string(c.ffn_dim),
                   ">= 0 (0: no feed-forward blocks)");
    check_activation("MambaModel", c.activation);
    check_argument(c.norm_eps > 0, "MambaModel", "norm_eps", std::to_string(c.norm_eps), "> 0");
    check_argument(static_cast<std::int64_t>(weights_.layers.size()) == c.n_layer, "MambaModel",
                   "layers", std::to_string(weights_.layers.size()) + " layers",
                   "n_layer = " + std::to_string(c.n_layer));
    check_argument(
        weights_.embedding.defined() &&
            (weights_.embedding.dtype() == DType::F32 || weights_.embedding.dtype() == DType::F64),
        "MambaModel", "embedding",
        weights_.embedding.defined() ? std::string(dtype_name(weights_.embedding.dtype()))
                                     : std::string("missing"),
        "a float32 or float64 tensor (every weight takes its dtype)");
    const DType dtype = weights_.embedding.dtype();
    check_weight(weights_.embedding, "embedding", {c.vocab_size, c.d_model}, dtype);
    check_weight(weights_.norm_f, "norm_f", {c.d_model}, dtype);
    check_optional(weights_.head, "head", {c.vocab_size, c.d_model}, dtype);
    check_argument(c.mixers.empty() || static_cast<std::int64_t>(c.mixers.size()) == c.n_layer,
                   "MambaModel", "mixers", std::to_string(c.mixers.size()) + " names",
                   "none, or one per layer (n_layer = " + std::to_string(c.n_layer) + ")");
    for (std::size_t l = 0; l < c.mixers.size(); ++l) {
        const std::string& m = c.mixers[l];
        check_argument(m == "ssm" || m == "bk" || m == "attention" || m == "ridge", "MambaModel",
                       "mixers[" + std::to_string(l) + "]", m, "ssm, bk, attention or ridge");
    }
    check_argument(c.positions == "rotary" || c.positions == "learned", "MambaModel", "positions",
                   c.positions, "rotary or learned");
    check_argument(c.attention_heads >= 0, "MambaModel", "attention_heads",
                   std::to_string(c.attention_heads), ">= 0 (0: d_model / 64)");
    if (c.positions == "learned") {
        positive(c.max_seq_len, "max_seq_len");
        check_weight(weights_.positions, "positions", {c.max_seq_len, c.d_model}, dtype);
    } else {
        check_argument(!weights_.positions.defined(), "MambaModel", "positions", "given",
                       "no position table with rotary positions");
    }
    check_argument(c.bk_channels >= 0, "MambaModel", "bk_channels", std::to_string(c.bk_channels),
                   ">= 0 (0: d_model)");
    const std::int64_t bk_channels = c.bk_channels > 0 ? c.bk_channels : c.d_model;
    for (std::int64_t i = 0; i < c.n_layer; ++i) {
        const MambaLayerWeights& layer = weights_.layers[static_cast<std::size_t>(i)];
        const MambaMixerWeights& w = layer.mixer;
        const std::string p = "layers." + std::to_string(i) + ".";
        check_weight(layer.norm, p + "norm", {c.d_model}, dtype);
        check_feed_forward(c, layer, p, dtype);
        if (is_attention_layer(i)) {
            const AttentionMixerWeights& a = layer.attention;
            check_argument(a.defined() && !w.in_proj.defined() && !layer.bk.defined(), "MambaModel",
                           p + "attention", "missing, or beside other mixer weights",
                           "attention mixer weights only");
            const AttentionMixerOptions options = attention_options();
            check_argument(c.d_model % options.heads == 0, "MambaModel", "attention_heads",
                           std::to_string(options.heads),
                           fmt::format("a divisor of d_model = {}", c.d_model));
            check_argument(options.rotary == false || (c.d_model / options.heads) % 2 == 0,
                           "MambaModel", "attention_heads", std::to_string(options.heads),
                           "an even head size d_model / heads for rotary positions");
            check_weight(a.qkv, p + "attention.qkv", {3 * c.d_model, c.d_model}, dtype);
            check_weight(a.out_proj, p + "attention.out_proj", {c.d_model, c.d_model}, dtype);
            if (config_.mixers[static_cast<std::size_t>(i)] == "ridge") {
                check_weight(a.log_lambda, p + "attention.log_lambda", {options.heads}, dtype);
            } else {
                check_argument(!a.log_lambda.defined(), "MambaModel", p + "attention.log_lambda",
                               "given", "none in a softmax \"attention\" layer");
            }
            A_.emplace_back();
            continue;
        }
        check_argument(!layer.attention.defined(), "MambaModel", p + "attention", "given",
                       "no attention weights in an \"ssm\" or \"bk\" layer");
        if (is_bk_layer(i)) {
            check_argument(layer.bk.defined() && !w.in_proj.defined(), "MambaModel", p + "bk",
                           "missing, or beside SSM mixer weights", "BK mixer weights only");
            check_weight(layer.bk.in_proj, p + "bk.in_proj", {bk_channels, c.d_model}, dtype);
            check_weight(layer.bk.in_proj_bias, p + "bk.in_proj_bias", {bk_channels}, dtype);
            check_weight(layer.bk.out_proj, p + "bk.out_proj", {c.d_model, 2 * bk_channels}, dtype);
            check_weight(layer.bk.out_proj_bias, p + "bk.out_proj_bias", {c.d_model}, dtype);
            A_.emplace_back();
            continue;
        }
        check_argument(!layer.bk.defined(), "MambaModel", p + "bk", "given",
                       "no BK weights in an \"ssm\" layer");
        check_projection(w.in_proj, p + "in_proj", 2 * c.d_inner, c.d_model, dtype);
        check_optional(w.in_proj_bias, p + "in_proj_bias", {2 * c.d_inner}, dtype);
        check_weight(w.conv_weight, p + "conv_weight", {c.d_inner, c.d_conv}, dtype);
        check_optional(w.conv_bias, p + "conv_bias", {c.d_inner}, dtype);
        check_projection(w.x_proj, p + "x_proj", c.dt_rank + 2 * c.d_state, c.d_inner, dtype);
        check_weight(w.dt_proj, p + "dt_proj", {c.d_inner, c.dt_rank}, dtype);
        check_weight(w.dt_proj_bias, p + "dt_proj_bias", {c.d_inner}, dtype);
        check_weight(w.A_log, p + "A_log", {c.d_inner, c.d_state}, dtype);
        check_weight(w.D, p + "D", {c.d_inner}, dtype);
        check_projection(w.out_proj, p + "out_proj", c.d_model, c.d_inner, dtype);
        check_optional(w.out_proj_bias, p + "out_proj_bias", {c.d_model}, dtype);
        if (dtype != DType::F32) {  // A serves the float32 recurrent step only
            A_.emplace_back();
            continue;
        }
        Tensor A = Tensor::empty({c.d_inner, c.d_state}, DType::F32);
        const Tensor A_log = w.A_log.contiguous();
        for (std::int64_t k = 0; k < A.numel(); ++k) {
            A.data<float>()[k] = -std::exp(A_log.data<float>()[k]);
        }
        A_.push_back(std::move(A));
    }
    // The small weights (norms, convolutions, x_proj, dt_proj, biases, ...) and A into shared
    // buffers on huge pages (core/packed_tensors.h): the recurrent step reads them all per token.
    std::vector<Tensor*> tensors;
    for (const auto& named : weights_.named_tensors()) tensors.push_back(named.second);
    for (Tensor& A : A_) tensors.push_back(&A);
    pack_tensors(tensors);
    bf16_mixers_.resize(static_cast<std::size_t>(c.n_layer));
}

bool MambaModel::is_bk_layer(std::int64_t l) const {
    return !config_.mixers.empty() && config_.mixers[static_cast<std::size_t>(l)] == "bk";
}

bool MambaModel::is_attention_layer(std::int64_t l) const {
    if (config_.mixers.empty()) return false;
    const std::string& m = config_.mixers[static_cast<std::size_t>(l)];
    return m == "attention" || m == "ridge";
}

AttentionMixerOptions MambaModel::attention_options() const {
    return {attention_heads(config_), config_.positions == "rotary"};
}

std::int64_t MambaModel::parameter_count() const {
    const auto n = [](const Tensor& t) { return t.defined() ? t.numel() : 0; };
    std::int64_t total =
        n(weights_.embedding) + n(weights_.norm_f) + n(weights_.head) + n(weights_.positions);
    for (const MambaLayerWeights& layer : weights_.layers) {
        const MambaMixerWeights& w = layer.mixer;
        total += n(layer.norm) + w.in_proj.parameter_count() + n(w.in_proj_bias) +
                 n(w.conv_weight) + n(w.conv_bias) + w.x_proj.parameter_count() + n(w.dt_proj) +
                 n(w.dt_proj_bias) + n(w.A_log) + n(w.D) + w.out_proj.parameter_count() +
                 n(w.out_proj_bias) + n(layer.bk.in_proj) + n(layer.bk.in_proj_bias) +
                 n(layer.bk.out_proj) + n(layer.bk.out_proj_bias) + n(layer.ffn_norm) +
                 n(layer.ffn.fc1) + n(layer.ffn.fc1_bias) + n(layer.ffn.fc2) +
                 n(layer.ffn.fc2_bias) + n(layer.attention.qkv) + n(layer.attention.out_proj) +
                 n(layer.attention.log_lambda);
    }
    return total;
}

void MambaModel::check_tokens(std::string_view where, const Tensor& tokens) const {
    check_argument(tokens.dtype() == DType::I64, where, "tokens dtype",
                   std::string(dtype_name(tokens.dtype())), "int64");
    const Tensor ids = tokens.contiguous();
    for (std::int64_t k = 0; k < ids.numel(); ++k) {
        const std::int64_t id = ids.data<std::int64_t>()[k];
        if (id < 0 || id >= config_.vocab_size) {
            fail_argument(where, "tokens", "holding " + std::to_string(id),
                          "token ids in [0, " + std::to_string(config_.vocab_size) + ")");
        }
    }
}

Tensor MambaModel::embed(const Tensor& tokens, std::int64_t first_position) const {
    const Tensor ids = tokens.contiguous();
    const std::int64_t* p = ids.data<std::int64_t>();
    Tensor x =
        gather_rows(weights_.embedding.contiguous(), std::vector<std::int64_t>(p, p + ids.numel()));
    if (!weights_.positions.defined()) return x;
    const std::int64_t length = tokens.rank() == 2 ? tokens.dim(1) : 1;
    check_argument(
        first_position + length <= config_.max_seq_len, "MambaModel", "tokens",
        fmt::format("reaching position {}", first_position + length),
        fmt::format("at most max_seq_len = {} positions (learned positions)", config_.max_seq_len));
    std::vector<std::int64_t> rows;
    for (std::int64_t k = 0; k < ids.numel(); ++k) rows.push_back(first_position + k % length);
    add_in_place(x, gather_rows(weights_.positions.contiguous(), rows));
    return x;
}

Tensor MambaModel::head_logits(const Tensor& x) const {
    const Tensor h = rms_norm_forward(x, weights_.norm_f, config_.norm_eps);
    return linear_forward(h, weights_.head.defined() ? weights_.head : weights_.embedding, nullptr);
}

Tensor MambaModel::layer_forward(std::int64_t l, Tensor x, std::int64_t batch, std::int64_t length,
                                 LayerRecord* record) const {
    const MambaLayerWeights& layer = weights_.layers[static_cast<std::size_t>(l)];
    const Tensor h = rms_norm_forward(x, layer.norm, config_.norm_eps);
    if (record != nullptr) {
        record->input = x;
        x = x.clone();  // the record keeps this layer's input
    }
    // The block's output y, dropped out (the mask kept in `record`), added to the residual.
    const auto add_block = [&](Tensor y, int part, Tensor LayerRecord::*mask_field) {
        if (dropout_p_ > 0) {
            const Tensor mask = dropout_mask_for(l, part, y);
            multiply_in_place(y, mask);
            if (record != nullptr) record->*mask_field = mask;
        }
        add_in_place(x, y);
    };
    if (is_attention_layer(l)) {
        add_block(attention_mixer_forward(layer.attention, attention_options(), h, batch, length,
                                          record != nullptr ? &record->attention : nullptr),
                  0, &LayerRecord::mixer_mask);
    } else if (is_bk_layer(l)) {
        add_block(
            bk_mixer_forward(layer.bk, h, batch, length, record != nullptr ? &record->bk : nullptr),
            0, &LayerRecord::mixer_mask);
    } else {
        add_block(mamba_mixer_forward(layer.mixer, h, batch, length,
                                      record != nullptr ? &record->mixer : nullptr,
                                      config_.discretization),
                  0, &LayerRecord::mixer_mask);
    }
    if (config_.ffn_dim == 0) return x;
    const Tensor h2 = rms_norm_forward(x, layer.ffn_norm, config_.norm_eps);
    if (record != nullptr) {
        record->ffn_input = x;
        x = x.clone();
    }
    add_block(feed_forward_forward(layer.ffn, h2, config_.activation,
                                   record != nullptr ? &record->ffn : nullptr),
              1, &LayerRecord::ffn_mask);
    return x;
}

void MambaModel::set_dropout(double p, std::uint64_t seed, std::uint64_t step) {
    check_argument(p >= 0 && p < 1, "MambaModel.set_dropout", "p", fmt::format("{}", p),
                   "in [0, 1)");
    dropout_p_ = p;
    dropout_seed_ = seed;
    dropout_step_ = step;
}

Tensor MambaModel::dropout_mask_for(std::int64_t l, int part, const Tensor& y) const {
    const auto stream = (dropout_step_ << 20) | static_cast<std::uint64_t>(2 * l + part);
    return dropout_mask(y, dropout_p_, dropout_seed_, stream);
}

Tensor MambaModel::hidden_states(std::string_view where, const Tensor& tokens,
                                 std::vector<LayerRecord>* record, bool inputs_only) const {
    check_tokens(where, tokens);
    check_argument(tokens.rank() == 2 && tokens.dim(0) >= 1 && tokens.dim(1) >= 1, where, "tokens",
                   "shape " + shape_string(tokens.shape()), "(batch, L) with batch, L >= 1");
    const std::int64_t batch = tokens.dim(0), length = tokens.dim(1);
    Tensor x = embed(tokens);
    if (record != nullptr) record->resize(weights_.layers.size());
    for (std::int64_t l = 0; l < config_.n_layer; ++l) {
        LayerRecord* r = record != nullptr ? &(*record)[static_cast<std::size_t>(l)] : nullptr;
        if (r != nullptr && inputs_only) {
            r->input = x;
            x = layer_forward(l, x.clone(), batch, length, nullptr);
        } else {
            x = layer_forward(l, std::move(x), batch, length, r);
        }
    }
    return x;
}

Tensor MambaModel::logits(const Tensor& tokens, bool last_only) const {
    const Tensor x = hidden_states("MambaModel.logits", tokens);
    const std::int64_t batch = tokens.dim(0), length = tokens.dim(1);
    if (last_only) {
        std::vector<std::int64_t> last;
        for (std::int64_t b = 0; b < batch; ++b) last.push_back((b + 1) * length - 1);
        return head_logits(gather_rows(x, last)).reshape({batch, 1, config_.vocab_size});
    }
    return head_logits(x).reshape({batch, length, config_.vocab_size});
}

}  // namespace structseq

namespace structseq {

Tensor MambaModel::attention_weights(const Tensor& tokens, std::int64_t layer) const {
    constexpr std::string_view where = "MambaModel.attention_weights";
    check_argument(layer >= 0 && layer < config_.n_layer && is_attention_layer(layer), where,
                   "layer", std::to_string(layer), "an \"attention\" or \"ridge\" layer");
    check_tokens(where, tokens);
    check_argument(tokens.rank() == 2 && tokens.dim(0) == 1 && tokens.dim(1) >= 1, where, "tokens",
                   "shape " + shape_string(tokens.shape()), "(1, L), one sequence");
    const std::int64_t length = tokens.dim(1);
    Tensor x = embed(tokens);
    for (std::int64_t l = 0; l < layer; ++l) x = layer_forward(l, std::move(x), 1, length, nullptr);
    const MambaLayerWeights& w = weights_.layers[static_cast<std::size_t>(layer)];
    return attention_mixer_weights(w.attention, attention_options(),
                                   rms_norm_forward(x, w.norm, config_.norm_eps));
}

}  // namespace structseq
