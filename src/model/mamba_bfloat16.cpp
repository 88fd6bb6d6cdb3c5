// MambaModel's bfloat16 weight storage for step() (mamba_model.h).

#include "structseq/core/error.h"
#include "structseq/model/mamba_model.h"

#include <string>
#include <vector>

namespace structseq {

void MambaModel::quantize_weights_to_bfloat16() {
    check_argument(weights_.embedding.dtype() == DType::F32,
                   "MambaModel.quantize_weights_to_bfloat16", "weights dtype",
                   std::string(dtype_name(weights_.embedding.dtype())), "float32");
    // Each matrix's bfloat16 copy, and the float32 weight replaced by the copy's values (a new
    // tensor: storage shared through weights() stays as it was).
    std::vector<BFloat16Matrix*> copies;
    const auto quantize = [&](Tensor& W, BFloat16Matrix& copy) {
        copy = BFloat16Matrix(W);
        W = copy.to_float();
        copies.push_back(&copy);
    };
    for (std::int64_t l = 0; l < config_.n_layer; ++l) {
        if (is_attention_layer(l) || is_bk_layer(l)) continue;
        MambaMixerWeights& w = weights_.layers[static_cast<std::size_t>(l)].mixer;
        BFloat16Mixer& half = bf16_mixers_[static_cast<std::size_t>(l)];
        for (auto [p, copy] :
             {std::pair{&w.in_proj, &half.in_proj}, std::pair{&w.x_proj, &half.x_proj},
              std::pair{&w.out_proj, &half.out_proj}}) {
            if (p->kind == Projection::Kind::Dense) quantize(p->weight, *copy);
        }
        quantize(w.dt_proj, half.dt_proj);
    }
    quantize(weights_.head.defined() ? weights_.head : weights_.embedding, bf16_head_);
    BFloat16Matrix::pack(copies);
}

std::int64_t MambaModel::step_weight_bytes() const {
    std::int64_t bytes = 4 * parameter_count();
    const auto saved = [](const BFloat16Matrix& m) { return m.defined() ? m.bytes() : 0; };
    for (const BFloat16Mixer& half : bf16_mixers_) {
        bytes -=
            saved(half.in_proj) + saved(half.x_proj) + saved(half.dt_proj) + saved(half.out_proj);
    }
    return bytes - saved(bf16_head_);
}

}  // namespace structseq
