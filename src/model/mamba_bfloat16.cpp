// MambaModel's bfloat16 weight storage for step() (mamba_model.h).

#include "structseq/core/error.h"
#include "structseq/model/mamba_model.h"

#include <string>
#include <utility>
#include <vector>

namespace structseq {

void MambaModel::quantize_weights_to_bfloat16() {
    check_argument(weights_.embedding.dtype() == DType::F32,
                   "MambaModel.quantize_weights_to_bfloat16", "weights dtype",
                   std::string(dtype_name(weights_.embedding.dtype())), "float32");
    // Every matrix to quantize and where its bfloat16 copy goes: each Mamba mixer's dense
    // projections, then the head. The float32 weight is replaced by its rounded values (a new
    // tensor: storage shared through weights() stays as it was).
    std::vector<Tensor*> weights;
    std::vector<BFloat16Matrix*> copies;
    bf16_mixers_.assign(static_cast<std::size_t>(config_.n_layer), {});
    for (std::int64_t l = 0; l < config_.n_layer; ++l) {
        if (is_attention_layer(l) || is_bk_layer(l)) continue;
        MambaMixerWeights& w = weights_.layers[static_cast<std::size_t>(l)].mixer;
        BFloat16Mixer& q = bf16_mixers_[static_cast<std::size_t>(l)];
        const auto add = [&](Tensor& W, BFloat16Matrix& copy) {
            weights.push_back(&W);
            copies.push_back(&copy);
        };
        for (auto [p, copy] : {std::pair{&w.in_proj, &q.in_proj}, std::pair{&w.x_proj, &q.x_proj},
                               std::pair{&w.out_proj, &q.out_proj}}) {
            if (p->kind == Projection::Kind::Dense) add(p->weight, *copy);
        }
        add(w.dt_proj, q.dt_proj);
    }
    weights.push_back(weights_.head.defined() ? &weights_.head : &weights_.embedding);
    copies.push_back(&bf16_head_);
    std::vector<Tensor> rounded;
    for (Tensor* W : weights) rounded.push_back(round_to_bfloat16(*W));
    std::vector<BFloat16Matrix> packed = BFloat16Matrix::pack(rounded);
    for (std::size_t k = 0; k < weights.size(); ++k) {
        *weights[k] = rounded[k];
        *copies[k] = std::move(packed[k]);
    }
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
