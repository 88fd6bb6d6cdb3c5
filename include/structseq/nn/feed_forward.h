#pragma once
// Position-wise feed-forward block (seed 002's `ffn_dim`), forward/backward over flat rows:
//   a = h W₁ᵀ + b₁,  y = act(a) W₂ᵀ + b₂      h (M, d_model), W₁ (ffn_dim, d_model),
//                                             W₂ (d_model, ffn_dim), biases optional
// act: "gelu" (exact, x Φ(x)), "silu" (x σ(x)) or "relu". Backward:
//   da = (dy W₂) ⊙ act'(a),  dh = da W₁;  dW₂ += dyᵀ act(a), dW₁ += daᵀ h, db += Σ_rows.
// float32 or float64, all operands of one dtype.

#include "structseq/core/tensor.h"

#include <string>
#include <string_view>

namespace structseq {

struct FeedForwardWeights {
    Tensor fc1, fc1_bias;  // (ffn_dim, d_model); (ffn_dim) or undefined
    Tensor fc2, fc2_bias;  // (d_model, ffn_dim); (d_model) or undefined

    bool defined() const { return fc1.defined(); }
    FeedForwardWeights zeros_like() const;
};

struct FeedForwardSaved {
    Tensor h, pre, act;  // input, a, act(a)
    std::string activation;
};

// Error naming the activation unless it is gelu, silu or relu.
void check_activation(std::string_view where, std::string_view activation);

Tensor feed_forward_forward(const FeedForwardWeights& w, const Tensor& h,
                            std::string_view activation, FeedForwardSaved* saved = nullptr);

// Returns dh; adds the weights' gradients into `grads` (shaped by zeros_like()).
Tensor feed_forward_backward(const FeedForwardWeights& w, const FeedForwardSaved& saved,
                             const Tensor& dy, FeedForwardWeights& grads);

}  // namespace structseq
