// MambaModel::loss: next-token cross-entropy and, on request, its gradient for every weight
// (the layers' backward in reverse order; see mamba_model.h for the forward).

#include "structseq/core/error.h"
#include "structseq/model/mamba_model.h"
#include "structseq/nn/linear.h"
#include "structseq/nn/rms_norm.h"

#include "row_ops.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace structseq {

namespace {

// The teacher's top-k targets of each row (MambaModel::Distillation), or none.
struct SoftTargets {
    const std::int64_t* ids = nullptr;  // (rows, k)
    const float* logits = nullptr;      // (rows, k)
    std::int64_t k = 0;
    double temperature = 1, alpha = 0;
};

// Mean over rows with target >= 0 of −log softmax(logits)[target], mixed with the distillation
// term where the row has teacher targets; writes d loss / d logits.
template <class Real>
double cross_entropy(const Tensor& logits, const std::int64_t* targets, const SoftTargets& soft,
                     Tensor* dlogits) {
    const std::int64_t rows = logits.dim(0), vocab = logits.dim(1);
    std::int64_t counted = 0;
    for (std::int64_t r = 0; r < rows; ++r) counted += targets[r] >= 0;
    const double scale = counted > 0 ? 1.0 / static_cast<double>(counted) : 0.0;
    double total = 0;
    std::vector<double> p_student, p_teacher;
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
        const std::int64_t* ids = soft.ids != nullptr ? soft.ids + r * soft.k : nullptr;
        const bool distilled =
            ids != nullptr && std::any_of(ids, ids + soft.k, [](auto id) { return id >= 0; });
        const double ce_weight = distilled ? 1 - soft.alpha : 1.0;
        total += ce_weight * (log_sum - z[targets[r]]);
        if (dz != nullptr) {
            for (std::int64_t v = 0; v < vocab; ++v) {
                dz[v] = static_cast<Real>(ce_weight * std::exp(z[v] - log_sum) * scale);
            }
            dz[targets[r]] -= static_cast<Real>(ce_weight * scale);
        }
        if (!distilled) continue;
        // α T² KL(p_t ‖ p_s) at temperature T; d/dz = α T (p_s − p_t).
        const double T = soft.temperature;
        double s_sum = 0;
        p_student.assign(static_cast<std::size_t>(vocab), 0.0);
        for (std::int64_t v = 0; v < vocab; ++v) {
            s_sum += p_student[static_cast<std::size_t>(v)] = std::exp((z[v] - top) / T);
        }
        const float* tl = soft.logits + r * soft.k;
        double t_top = -std::numeric_limits<double>::infinity(), t_sum = 0;
        for (std::int64_t j = 0; j < soft.k; ++j) {
            if (ids[j] >= 0) t_top = std::max(t_top, static_cast<double>(tl[j]));
        }
        p_teacher.assign(static_cast<std::size_t>(soft.k), 0.0);
        for (std::int64_t j = 0; j < soft.k; ++j) {
            if (ids[j] >= 0)
                t_sum += p_teacher[static_cast<std::size_t>(j)] = std::exp((tl[j] - t_top) / T);
        }
        double kl = 0;
        for (std::int64_t j = 0; j < soft.k; ++j) {
            if (ids[j] < 0) continue;
            const double pt = p_teacher[static_cast<std::size_t>(j)] / t_sum;
            const double log_ps = (z[ids[j]] - top) / T - std::log(s_sum);
            kl += pt * (std::log(pt) - log_ps);
            if (dz != nullptr) dz[ids[j]] -= static_cast<Real>(soft.alpha * T * pt * scale);
        }
        total += soft.alpha * T * T * kl;
        if (dz != nullptr) {
            for (std::int64_t v = 0; v < vocab; ++v) {
                dz[v] += static_cast<Real>(soft.alpha * T * p_student[static_cast<std::size_t>(v)] /
                                           s_sum * scale);
            }
        }
    }
    return total * scale;
}

}  // namespace

double MambaModel::loss(const Tensor& tokens, const Tensor& targets, MambaWeights* grads) const {
    return loss(tokens, targets, Distillation{}, grads);
}

double MambaModel::loss(const Tensor& tokens_in, const Tensor& targets_in,
                        const Distillation& teacher, MambaWeights* grads) const {
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
    const Tensor x =
        hidden_states(where, tokens_in, grads != nullptr ? &record : nullptr, recompute_layers_);
    const Tensor& head = weights_.head.defined() ? weights_.head : weights_.embedding;
    const Tensor hf = rms_norm_forward(x, weights_.norm_f, config_.norm_eps);
    const Tensor logits = linear_forward(hf, head, nullptr);
    Tensor dlogits = grads != nullptr ? Tensor::empty(logits.shape(), dtype) : Tensor();
    const std::int64_t* t = targets.data<std::int64_t>();
    Tensor* dz = grads != nullptr ? &dlogits : nullptr;
    SoftTargets soft;
    Tensor teacher_ids, teacher_logits;  // contiguous copies kept alive for `soft`
    if (teacher.ids.defined()) {
        check_argument(teacher.ids.dtype() == DType::I64 && teacher.ids.rank() == 3 &&
                           teacher.ids.dim(0) == tokens_in.dim(0) &&
                           teacher.ids.dim(1) == tokens_in.dim(1),
                       where, "teacher ids", shape_string(teacher.ids.shape()),
                       "int64 (batch, L, k) matching the tokens");
        check_shape(where, "teacher logits", teacher.logits, teacher.ids.shape());
        check_argument(teacher.temperature > 0 && teacher.alpha >= 0 && teacher.alpha <= 1, where,
                       "teacher temperature, alpha",
                       fmt::format("{}, {}", teacher.temperature, teacher.alpha),
                       "T > 0 and α in [0, 1]");
        teacher_ids = teacher.ids.contiguous();
        teacher_logits = teacher.logits.to(DType::F32).contiguous();
        for (std::int64_t k = 0; k < teacher_ids.numel(); ++k) {
            const std::int64_t id = teacher_ids.data<std::int64_t>()[k];
            check_argument(id < config_.vocab_size, where, "teacher ids",
                           "holding " + std::to_string(id),
                           "ids below vocab_size = " + std::to_string(config_.vocab_size));
        }
        soft = {teacher_ids.data<std::int64_t>(), teacher_logits.data<float>(), teacher_ids.dim(2),
                teacher.temperature, teacher.alpha};
    }
    const double value = dtype == DType::F32 ? cross_entropy<float>(logits, t, soft, dz)
                                             : cross_entropy<double>(logits, t, soft, dz);
    if (grads == nullptr) return value;
    // Backward.
    Tensor& dhead = weights_.head.defined() ? grads->head : grads->embedding;
    const Tensor dhf = linear_backward(dlogits, hf, head, dhead, nullptr);
    Tensor dx = rms_norm_backward(dhf, x, weights_.norm_f, grads->norm_f, config_.norm_eps);
    for (std::size_t l = weights_.layers.size(); l-- > 0;) {
        const MambaLayerWeights& layer = weights_.layers[l];
        MambaLayerWeights& g = grads->layers[l];
        if (recompute_layers_) {  // this layer's activations again, from its input
            layer_forward(static_cast<std::int64_t>(l), record[l].input, tokens_in.dim(0),
                          tokens_in.dim(1), &record[l]);
        }
        // Through a block's dropout: its output's gradient is dx ⊙ mask.
        const auto through_dropout = [&](const Tensor& mask) {
            if (!mask.defined()) return dx;
            Tensor d = dx.clone();
            model_detail::multiply_in_place(d, mask);
            return d;
        };
        if (config_.ffn_dim > 0) {
            const Tensor dh2 = feed_forward_backward(layer.ffn, record[l].ffn,
                                                     through_dropout(record[l].ffn_mask), g.ffn);
            model_detail::add_in_place(
                dx, rms_norm_backward(dh2, record[l].ffn_input, layer.ffn_norm, g.ffn_norm,
                                      config_.norm_eps));
        }
        const Tensor dmixer = through_dropout(record[l].mixer_mask);
        const auto li = static_cast<std::int64_t>(l);
        const Tensor dh = is_attention_layer(li)
                              ? attention_mixer_backward(layer.attention, attention_options(),
                                                         record[l].attention, dmixer, g.attention)
                          : is_bk_layer(li)
                              ? bk_mixer_backward(layer.bk, record[l].bk, dmixer, g.bk)
                              : mamba_mixer_backward(layer.mixer, record[l].mixer, dmixer, g.mixer);
        const Tensor dnorm =
            rms_norm_backward(dh, record[l].input, layer.norm, g.norm, config_.norm_eps);
        model_detail::add_in_place(dx, dnorm);
        if (recompute_layers_) record[l] = {};  // freed before the next layer is recomputed
    }
    // The embedding rows the tokens picked, and the learned positions' rows.
    const Tensor ids = tokens_in.contiguous();
    const std::int64_t length = tokens_in.dim(1);
    const auto scatter = [&]<class Real>(Real) {
        const std::int64_t d = config_.d_model;
        const std::int64_t* id = ids.data<std::int64_t>();
        const Real* g = dx.data<Real>();
        Real* positions = grads->positions.defined() ? grads->positions.data<Real>() : nullptr;
        for (std::int64_t k = 0; k < ids.numel(); ++k) {
            Real* row = grads->embedding.data<Real>() + id[k] * d;
            for (std::int64_t j = 0; j < d; ++j) row[j] += g[k * d + j];
            if (positions == nullptr) continue;
            Real* position = positions + (k % length) * d;
            for (std::int64_t j = 0; j < d; ++j) position[j] += g[k * d + j];
        }
    };
    dtype == DType::F32 ? scatter(0.0f) : scatter(0.0);
    return value;
}

}  // namespace structseq
