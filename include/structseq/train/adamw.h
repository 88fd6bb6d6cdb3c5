#pragma once
// AdamW (Loshchilov & Hutter 2019), decoupled weight decay, per parameter θ with gradient g:
//   m ← β₁ m + (1 − β₁) g,   v ← β₂ v + (1 − β₂) g²,   m̂ = m / (1 − β₁ᵗ),   v̂ = v / (1 − β₂ᵗ)
//   θ ← θ − η s (m̂ / (√v̂ + ε) + λ θ)          (λ = 0 for parameters without decay)
// η the step's learning rate, s the parameter's multiplier (seed 002's
// selective_param_lr_multiplier). m and v are kept in float64 for float32 parameters too.

#include "structseq/core/tensor.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace structseq {

struct AdamWOptions {
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0.01;
};

struct AdamWParameter {
    std::string name;
    Tensor* value = nullptr;  // updated in place (contiguous float32 or float64)
    bool decay = true;        // false: no weight decay (norms, biases, embeddings)
    double lr_scale = 1.0;
};

// One AdamWParameter per named tensor, weight decay off for norms, biases and embeddings (names
// containing "norm", "bias" or equal to "embedding"), learning-rate multiplier 1.
std::vector<AdamWParameter> adamw_parameters(
    const std::vector<std::pair<std::string, Tensor*>>& named_tensors);

class AdamW {
public:
    AdamW(std::vector<AdamWParameter> parameters, AdamWOptions options = {});

    // One update; grads[i] is the gradient of parameters[i] (same shape and dtype).
    void step(const std::vector<const Tensor*>& grads, double lr);
    std::int64_t steps() const { return steps_; }

    // The moments for a checkpoint: "m.NAME" and "v.NAME" per parameter, float64 (numel).
    std::vector<std::pair<std::string, Tensor>> moments() const;
    // Restores moments() and the step count; Error naming a missing or mis-sized moment.
    void restore(std::int64_t steps, const std::vector<std::pair<std::string, Tensor>>& moments);
    const std::vector<AdamWParameter>& parameters() const { return parameters_; }

private:
    std::vector<AdamWParameter> parameters_;
    AdamWOptions options_;
    std::vector<std::vector<double>> m_, v_;
    std::int64_t steps_ = 0;
};

}  // namespace structseq
