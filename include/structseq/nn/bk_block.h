#pragma once
// The BK block, the `bk` mixer of the language model:
//   p = x W_inᵀ + b_in                      x: (B, L, d_model) → p: (B, L, C), one potential
//   f = BK(pᵀ)                              per channel; BK-Core over L = n_seq → (B, C, L, 2)
//   y = x + [f]ᵀ W_outᵀ + b_out             features regrouped as (B, L, 2C) → (B, L, d_model)
// Causal by default (feature t sees positions ≤ t only), so the block can serve a language
// model. Forward saves x and the regrouped features; backward returns dx and accumulates the
// gradients of in_proj / out_proj (and of BK's own z, U, V where those are learnable).

#include "structseq/bk/birman_schwinger_core.h"
#include "structseq/core/tensor.h"

#include <string>
#include <utility>
#include <vector>

namespace structseq {

struct BkBlockOptions {
    std::int64_t d_model = 0;
    std::int64_t channels = 0;  // C
    std::int64_t n_seq = 0;     // L
    BkMode mode = BkMode::Causal;
    DType dtype = DType::F64;  // parameters and activations; BK computes in complex128 / 64
    std::complex<double> z{0.0, 1.0};
    bool learnable_z = false;
    std::uint64_t seed = 0;  // W_in ~ N(0, 1/d_model), W_out ~ N(0, 1/(2C)), biases 0
};

class BkBlock {
public:
    explicit BkBlock(BkBlockOptions options);

    Tensor forward(const Tensor& x);
    Tensor backward(const Tensor& dy);

    // ("in_proj.weight", (C, d_model)), ("in_proj.bias", (C,)), ("out_proj.weight",
    // (d_model, 2C)), ("out_proj.bias", (d_model,)); writable in place.
    std::vector<std::pair<std::string, Tensor*>> parameters();
    std::vector<std::pair<std::string, const Tensor*>> gradients() const;
    void zero_grad();
    BirmanSchwingerCore& core() { return core_; }

private:
    BkBlockOptions options_;
    BirmanSchwingerCore core_;
    Tensor W_in_, b_in_, W_out_, b_out_;
    Tensor grad_W_in_, grad_b_in_, grad_W_out_, grad_b_out_;
    Tensor saved_x_, saved_features_;  // (B·L, d_model), (B·L, 2C)
    Shape saved_shape_;
};

}  // namespace structseq
