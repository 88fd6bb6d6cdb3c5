// MambaModel's bfloat16 weight storage for step() (mamba_model.h).

#include "structseq/core/error.h"
#include "structseq/model/mamba_model.h"

#include <string>

namespace structseq {

namespace {

// A dense projection's weight rounded in place (a new tensor: storage shared through weights()
// stays as it was) and its bfloat16 copy; other kinds stay float32.
BFloat16Matrix quantize(Projection& p) {
    if (p.kind != Projection::Kind::Dense) return {};
    p.weight = round_to_bfloat16(p.weight);
    return BFloat16Matrix(p.weight);
}

BFloat16Matrix quantize(Tensor& W) {
    W = round_to_bfloat16(W);
    return BFloat16Matrix(W);
}

}  // namespace

void MambaModel::quantize_weights_to_bfloat16() {
    check_argument(weights_.embedding.dtype() == DType::F32,
                   "MambaModel.quantize_weights_to_bfloat16", "weights dtype",
                   std::string(dtype_name(weights_.embedding.dtype())), "float32");
    bf16_mixers_.assign(static_cast<std::size_t>(config_.n_layer), {});
    for (std::int64_t l = 0; l < config_.n_layer; ++l) {
        if (is_attention_layer(l) || is_bk_layer(l)) continue;
        MambaMixerWeights& w = weights_.layers[static_cast<std::size_t>(l)].mixer;
        BFloat16Mixer& q = bf16_mixers_[static_cast<std::size_t>(l)];
        q.in_proj = quantize(w.in_proj);
        q.x_proj = quantize(w.x_proj);
        q.dt_proj = quantize(w.dt_proj);
        q.out_proj = quantize(w.out_proj);
    }
    bf16_head_ = quantize(weights_.head.defined() ? weights_.head : weights_.embedding);
}

std::int64_t MambaModel::step_weight_bytes() const {
    std::int64_t bytes = 4 * parameter_count();
    const auto saved = [](const BFloat16Matrix& m) { return m.defined() ? m.bytes() : 0; };
    for (const BFloat16Mixer& q : bf16_mixers_) {
        bytes -= saved(q.in_proj) + saved(q.x_proj) + saved(q.dt_proj) + saved(q.out_proj);
    }
    return bytes - saved(bf16_head_);
}

Tensor MambaModel::step_projection(const BFloat16Matrix& fast, const Projection& p, const Tensor& x,
                                   const Tensor* bias) {
    return fast.defined() ? fast.apply(x, bias) : projection_forward(p, x, bias);
}

}  // namespace structseq
