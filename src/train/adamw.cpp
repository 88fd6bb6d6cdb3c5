#include "structseq/train/adamw.h"

#include "structseq/core/error.h"

#include <algorithm>
#include <cmath>

namespace structseq {

std::vector<AdamWParameter> adamw_parameters(
    const std::vector<std::pair<std::string, Tensor*>>& named_tensors) {
    std::vector<AdamWParameter> parameters;
    for (const auto& [name, tensor] : named_tensors) {
        const bool decay = name.find("norm") == std::string::npos &&
                           name.find("bias") == std::string::npos && name != "embedding";
        parameters.push_back({name, tensor, decay, 1.0});
    }
    return parameters;
}

AdamW::AdamW(std::vector<AdamWParameter> parameters, AdamWOptions options)
    : parameters_(std::move(parameters)), options_(options) {
    constexpr std::string_view where = "AdamW";
    check_argument(
        options_.beta1 >= 0 && options_.beta1 < 1 && options_.beta2 >= 0 && options_.beta2 < 1,
        where, "betas", fmt::format("({}, {})", options_.beta1, options_.beta2), "each in [0, 1)");
    check_argument(options_.eps > 0 && options_.weight_decay >= 0, where, "eps, weight_decay",
                   fmt::format("{}, {}", options_.eps, options_.weight_decay), "> 0, >= 0");
    for (const AdamWParameter& p : parameters_) {
        check_argument(p.value != nullptr && p.value->defined() && p.value->is_contiguous() &&
                           (p.value->dtype() == DType::F32 || p.value->dtype() == DType::F64),
                       where, p.name, "not a contiguous float32 or float64 tensor",
                       "a parameter to update in place");
        m_.emplace_back(static_cast<std::size_t>(p.value->numel()), 0.0);
        v_.emplace_back(static_cast<std::size_t>(p.value->numel()), 0.0);
    }
}

void AdamW::step(const std::vector<const Tensor*>& grads, double lr) {
    constexpr std::string_view where = "AdamW.step";
    check_argument(grads.size() == parameters_.size(), where, "grads",
                   std::to_string(grads.size()) + " tensors",
                   std::to_string(parameters_.size()) + " (one per parameter)");
    ++steps_;
    const double t = static_cast<double>(steps_);
    const double c1 = 1 - std::pow(options_.beta1, t), c2 = 1 - std::pow(options_.beta2, t);
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
        const AdamWParameter& p = parameters_[i];
        check_shape(where, p.name, *grads[i], p.value->shape());
        const Tensor g = grads[i]->to(DType::F64).contiguous();
        const double* pg = g.data<double>();
        const double rate = lr * p.lr_scale, decay = p.decay ? options_.weight_decay : 0.0;
        std::vector<double>& m = m_[i];
        std::vector<double>& v = v_[i];
        const auto update = [&]<class Real>(Real* theta) {
            for (std::size_t k = 0; k < m.size(); ++k) {
                m[k] = options_.beta1 * m[k] + (1 - options_.beta1) * pg[k];
                v[k] = options_.beta2 * v[k] + (1 - options_.beta2) * pg[k] * pg[k];
                const double step = (m[k] / c1) / (std::sqrt(v[k] / c2) + options_.eps) +
                                    decay * static_cast<double>(theta[k]);
                theta[k] = static_cast<Real>(static_cast<double>(theta[k]) - rate * step);
            }
        };
        if (p.value->dtype() == DType::F32) {
            update(p.value->data<float>());
        } else {
            update(p.value->data<double>());
        }
    }
}

std::vector<std::pair<std::string, Tensor>> AdamW::moments() const {
    std::vector<std::pair<std::string, Tensor>> out;
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
        for (const auto& [prefix, values] : {std::pair{"m.", &m_[i]}, std::pair{"v.", &v_[i]}}) {
            Tensor t = Tensor::empty({static_cast<std::int64_t>(values->size())}, DType::F64);
            std::copy(values->begin(), values->end(), t.data<double>());
            out.emplace_back(prefix + parameters_[i].name, std::move(t));
        }
    }
    return out;
}

void AdamW::restore(std::int64_t steps,
                    const std::vector<std::pair<std::string, Tensor>>& moments) {
    constexpr std::string_view where = "AdamW.restore";
    check_argument(steps >= 0, where, "steps", std::to_string(steps), ">= 0");
    const auto find = [&](const std::string& name) -> const Tensor& {
        for (const auto& [key, tensor] : moments) {
            if (key == name) return tensor;
        }
        fail("{}: the optimizer state has no moment '{}'", where, name);
    };
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
        for (auto& [prefix, values] : {std::pair{"m.", &m_[i]}, std::pair{"v.", &v_[i]}}) {
            const std::string name = prefix + parameters_[i].name;
            const Tensor t = find(name).to(DType::F64).contiguous();
            check_shape(where, name, t, {static_cast<std::int64_t>(values->size())});
            std::copy(t.data<double>(), t.data<double>() + t.numel(), values->begin());
        }
    }
    steps_ = steps;
}

}  // namespace structseq
