#include "structseq/nn/bk_block.h"

#include "structseq/core/error.h"
#include "structseq/core/rng.h"
#include "structseq/nn/linear.h"

#include <cmath>
#include <string_view>

namespace structseq {

namespace {

constexpr std::string_view kWhere = "BkBlock";

BirmanSchwingerOptions core_options(const BkBlockOptions& o) {
    check_argument(o.d_model >= 1, kWhere, "d_model", std::to_string(o.d_model), "d_model >= 1");
    check_argument(o.channels >= 1, kWhere, "channels", std::to_string(o.channels),
                   "channels >= 1");
    check_argument(o.dtype == DType::F32 || o.dtype == DType::F64, kWhere, "dtype",
                   std::string(dtype_name(o.dtype)), "float32 or float64");
    BirmanSchwingerOptions c;
    c.n_seq = o.n_seq;
    c.z = o.z;
    c.mode = o.mode;
    c.learnable_z = o.learnable_z;
    c.dtype = o.dtype == DType::F64 ? DType::C128 : DType::C64;
    return c;
}

// (B, X, Y, …) → (B, Y, X, …), copied contiguous.
Tensor swap_middle(const Tensor& t) {
    return t.transpose(1, 2).contiguous();
}

void add_into(Tensor& y, const Tensor& x) {
    const auto run = [&]<class Real>(Real) {
        Real* py = y.data<Real>();
        const Real* px = x.data<Real>();
        for (std::int64_t i = 0; i < y.numel(); ++i) py[i] += px[i];
    };
    y.dtype() == DType::F32 ? run(0.0f) : run(0.0);
}

}  // namespace

BkBlock::BkBlock(BkBlockOptions options) : options_(options), core_(core_options(options)) {
    const std::int64_t d = options_.d_model, c = options_.channels;
    const DType t = options_.dtype;
    W_in_ = Rng(options_.seed, 0).normal({c, d}, t, 0.0, 1.0 / std::sqrt(static_cast<double>(d)));
    W_out_ = Rng(options_.seed, 1)
                 .normal({d, 2 * c}, t, 0.0, 1.0 / std::sqrt(static_cast<double>(2 * c)));
    b_in_ = Tensor({c}, t);
    b_out_ = Tensor({d}, t);
    grad_W_in_ = Tensor(W_in_.shape(), t);
    grad_b_in_ = Tensor(b_in_.shape(), t);
    grad_W_out_ = Tensor(W_out_.shape(), t);
    grad_b_out_ = Tensor(b_out_.shape(), t);
}

Tensor BkBlock::forward(const Tensor& x_in) {
    const std::int64_t d = options_.d_model, c = options_.channels, l = options_.n_seq;
    check_argument(x_in.dtype() == options_.dtype, kWhere, "x dtype",
                   std::string(dtype_name(x_in.dtype())),
                   std::string(dtype_name(options_.dtype)) + " (the block's dtype)");
    if (!(x_in.rank() == 3 && x_in.dim(1) == l && x_in.dim(2) == d)) {
        fail_argument(kWhere, "x", "shape " + shape_string(x_in.shape()),
                      fmt::format("(B, {}, {}) (n_seq, d_model)", l, d));
    }
    const std::int64_t b = x_in.dim(0);
    const Tensor x = x_in.contiguous().reshape({b * l, d});
    const Tensor potential = linear_forward(x, W_in_, &b_in_);   // (B·L, C)
    const Tensor v = swap_middle(potential.reshape({b, l, c}));  // (B, C, L)
    const Tensor features = swap_middle(core_.forward(v)).reshape({b * l, 2 * c});
    Tensor y = linear_forward(features, W_out_, &b_out_);  // (B·L, d)
    add_into(y, x);
    saved_x_ = x;
    saved_features_ = features;
    saved_shape_ = x_in.shape();
    return y.reshape(saved_shape_);
}

Tensor BkBlock::backward(const Tensor& dy_in) {
    if (!saved_x_.defined()) fail("{}: backward without a forward", kWhere);
    check_shape("BkBlock.backward", "dy", dy_in, saved_shape_);
    const std::int64_t d = options_.d_model, c = options_.channels, l = options_.n_seq;
    const std::int64_t b = saved_shape_[0];
    const Tensor dy = dy_in.to(options_.dtype).contiguous().reshape({b * l, d});
    const Tensor d_features =
        linear_backward(dy, saved_features_, W_out_, grad_W_out_, &grad_b_out_);  // (B·L, 2C)
    const Tensor dv = core_.backward(swap_middle(d_features.reshape({b, l, c, 2})));
    const Tensor d_potential = swap_middle(dv).reshape({b * l, c});
    Tensor dx = linear_backward(d_potential, saved_x_, W_in_, grad_W_in_, &grad_b_in_);
    add_into(dx, dy);  // the residual
    saved_x_ = Tensor();
    saved_features_ = Tensor();
    return dx.reshape(saved_shape_);
}

std::vector<std::pair<std::string, Tensor*>> BkBlock::parameters() {
    return {{"in_proj.weight", &W_in_},
            {"in_proj.bias", &b_in_},
            {"out_proj.weight", &W_out_},
            {"out_proj.bias", &b_out_}};
}

std::vector<std::pair<std::string, const Tensor*>> BkBlock::gradients() const {
    return {{"in_proj.weight", &grad_W_in_},
            {"in_proj.bias", &grad_b_in_},
            {"out_proj.weight", &grad_W_out_},
            {"out_proj.bias", &grad_b_out_}};
}

void BkBlock::zero_grad() {
    for (Tensor* g : {&grad_W_in_, &grad_b_in_, &grad_W_out_, &grad_b_out_}) {
        *g = Tensor(g->shape(), g->dtype());
    }
    core_.zero_grad();
}

}  // namespace structseq
