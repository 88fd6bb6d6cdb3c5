// MambaModel::loss: next-token cross-entropy and, on request, its gradient for every weight
// (the layers' backward in reverse order; see mamba_model.h for the forward).

#include "structseq/core/error.h"
#include "structseq/model/mamba_model.h"
#include "structseq/nn/linear.h"
#include "structseq/nn/rms_norm.h"

#include "row_ops.h"

#include <cmath>
#include <string>
#include <vector>

namespace structseq {

namespace {

// Mean over rows with target >= 0 of −log softmax(logits)[target]; writes d loss / d logits.
template <class Real>
double cross_entropy(const Tensor& logits, const std::int64_t* targets, Tensor* dlogits) {
    const std::int64_t rows = logits.dim(0), vocab = logits.dim(1);
    std::int64_t counted = 0;
    for (std::int64_t r = 0; r < rows; ++r) counted += targets[r] >= 0;
    double total = 0;
    for (std::int64_t r = 0; r < rows; ++r) {
        const Real* z = logits.data<Real>() + r * vocab;
        Real* dz = dlogits != nullptr ? dlogits->data<Real>() + r * vocab : nullptr;
        if (targets[r] < 0) {
            if (dz != nullptr) std::fill(dz, dz + vocab, Real(0));
            continue;
        }
        double top = z[0];
        for (std::int64_t v = 1; v < vocab; ++v) top = std::max(top, static_cast<double>(z[v]));
        double sum = 0;
        for (std::int64_t v = 0; v < vocab; ++v) sum += std::exp(z[v] - top);
        const double log_sum = top + std::log(sum);
        total += log_sum - z[targets[r]];
        if (dz != nullptr) {
            for (std::int64_t v = 0; v < vocab; ++v) {
                dz[v] = static_cast<Real>(std::exp(z[v] - log_sum) / static_cast<double>(counted));
            }
            dz[targets[r]] -= static_cast<Real>(1.0 / static_cast<double>(counted));
        }
    }
    return counted > 0 ? total / static_cast<double>(counted) : 0.0;
}

}  // namespace

double MambaModel::loss(const Tensor& tokens_in, const Tensor& targets_in,
                        MambaWeights* grads) const {
    constexpr std::string_view where = "MambaModel.loss";
    check_argument(targets_in.dtype() == DType::I64, where, "targets dtype",
                   std::string(dtype_name(targets_in.dtype())), "int64");
    check_shape(where, "targets", targets_in, tokens_in.shape());
    const Tensor targets = targets_in.contiguous();
    for (std::int64_t k = 0; k < targets.numel(); ++k) {
        const std::int64_t t = targets.data<std::int64_t>()[k];
        check_argument(t < config_.vocab_size, where, "targets", "holding " + std::to_string(t),
                       "ids below vocab_size = " + std::to_string(config_.vocab_size) +
                           " (negative ones are ignored)");
    }
    const DType dtype = weights_.embedding.dtype();
    std::vector<LayerRecord> record;
    const Tensor x = hidden_states(where, tokens_in, grads != nullptr ? &record : nullptr);
    const Tensor& head = weights_.head.defined() ? weights_.head : weights_.embedding;
    const Tensor hf = rms_norm_forward(x, weights_.norm_f, config_.norm_eps);
    const Tensor logits = linear_forward(hf, head, nullptr);
    Tensor dlogits = grads != nullptr ? Tensor::empty(logits.shape(), dtype) : Tensor();
    const std::int64_t* t = targets.data<std::int64_t>();
    Tensor* dz = grads != nullptr ? &dlogits : nullptr;
    const double value = dtype == DType::F32 ? cross_entropy<float>(logits, t, dz)
                                             : cross_entropy<double>(logits, t, dz);
    if (grads == nullptr) return value;
    // Backward.
    Tensor& dhead = weights_.head.defined() ? grads->head : grads->embedding;
    const Tensor dhf = linear_backward(dlogits, hf, head, dhead, nullptr);
    Tensor dx = rms_norm_backward(dhf, x, weights_.norm_f, grads->norm_f, config_.norm_eps);
    for (std::size_t l = weights_.layers.size(); l-- > 0;) {
        const MambaLayerWeights& layer = weights_.layers[l];
        MambaLayerWeights& g = grads->layers[l];
        if (config_.ffn_dim > 0) {
            const Tensor dh2 = feed_forward_backward(layer.ffn, record[l].ffn, dx, g.ffn);
            model_detail::add_in_place(
                dx, rms_norm_backward(dh2, record[l].ffn_input, layer.ffn_norm, g.ffn_norm,
                                      config_.norm_eps));
        }
        const Tensor dh = is_bk_layer(static_cast<std::int64_t>(l))
                              ? bk_mixer_backward(layer.bk, record[l].bk, dx, g.bk)
                              : mamba_mixer_backward(layer.mixer, record[l].mixer, dx, g.mixer);
        const Tensor dnorm =
            rms_norm_backward(dh, record[l].input, layer.norm, g.norm, config_.norm_eps);
        model_detail::add_in_place(dx, dnorm);
    }
    // The embedding rows the tokens picked.
    const Tensor ids = tokens_in.contiguous();
    const auto scatter = [&]<class Real>(Real) {
        const std::int64_t d = config_.d_model;
        for (std::int64_t k = 0; k < ids.numel(); ++k) {
            Real* row = grads->embedding.data<Real>() + ids.data<std::int64_t>()[k] * d;
            for (std::int64_t j = 0; j < d; ++j) row[j] += dx.data<Real>()[k * d + j];
        }
    };
    dtype == DType::F32 ? scatter(0.0f) : scatter(0.0);
    return value;
}

}  // namespace structseq
