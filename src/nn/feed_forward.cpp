#include "structseq/nn/feed_forward.h"

#include "nn/silu.h"
#include "structseq/core/error.h"
#include "structseq/core/threads.h"
#include "structseq/nn/linear.h"

#include <cmath>

namespace structseq {

namespace {

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr std::int64_t kParallelValues = 16384;

// act(a) over n values.
template <class Real>
void activate(std::string_view activation, const Real* a, Real* out, std::int64_t n) {
    if (activation == "silu") {
        nn_detail::silu_forward(a, out, n);
    } else if (activation == "relu") {
        for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] > Real(0) ? a[i] : Real(0);
    } else {  // gelu: a Φ(a); erf is costly enough to share among the threads
#pragma omp parallel for num_threads(num_threads()) schedule(static) if (n >= kParallelValues)
        for (std::int64_t i = 0; i < n; ++i) {  // erf and exp in the data's precision
            const Real x = a[i];
            out[i] = Real(0.5) * x * (Real(1) + std::erf(x * Real(kInvSqrt2)));
        }
    }
}

// g ← g ⊙ act'(a) over n values.
template <class Real>
void activation_backward(std::string_view activation, const Real* a, Real* g, std::int64_t n) {
    if (activation == "silu") {
        nn_detail::silu_backward(a, g, g, n);
    } else if (activation == "relu") {
        for (std::int64_t i = 0; i < n; ++i) g[i] = a[i] > Real(0) ? g[i] : Real(0);
    } else {  // gelu' = Φ(a) + a φ(a)
#pragma omp parallel for num_threads(num_threads()) schedule(static) if (n >= kParallelValues)
        for (std::int64_t i = 0; i < n; ++i) {
            const Real x = a[i];
            const Real slope = Real(0.5) * (Real(1) + std::erf(x * Real(kInvSqrt2))) +
                               x * Real(kInvSqrt2Pi) * std::exp(Real(-0.5) * x * x);
            g[i] *= slope;
        }
    }
}

}  // namespace

void check_activation(std::string_view where, std::string_view activation) {
    check_argument(activation == "gelu" || activation == "silu" || activation == "relu", where,
                   "activation", std::string(activation), "gelu, silu or relu");
}

FeedForwardWeights FeedForwardWeights::zeros_like() const {
    const auto z = [](const Tensor& t) {
        return t.defined() ? Tensor(t.shape(), t.dtype()) : Tensor();
    };
    return {z(fc1), z(fc1_bias), z(fc2), z(fc2_bias)};
}

Tensor feed_forward_forward(const FeedForwardWeights& w, const Tensor& h,
                            std::string_view activation, FeedForwardSaved* saved) {
    constexpr std::string_view where = "feed_forward_forward";
    check_activation(where, activation);
    check_argument(w.defined() && w.fc2.defined(), where, "weights", "missing fc1 or fc2",
                   "both matrices");
    check_argument(h.dtype() == DType::F32 || h.dtype() == DType::F64, where, "h dtype",
                   std::string(dtype_name(h.dtype())), "float32 or float64");
    check_shape(where, "fc2", w.fc2, {-1, w.fc1.dim(0)});
    const Tensor pre = linear_forward(h, w.fc1, if_defined(w.fc1_bias));
    Tensor act = Tensor::empty(pre.shape(), pre.dtype());
    if (pre.dtype() == DType::F32) {
        activate(activation, pre.data<float>(), act.data<float>(), pre.numel());
    } else {
        activate(activation, pre.data<double>(), act.data<double>(), pre.numel());
    }
    Tensor y = linear_forward(act, w.fc2, if_defined(w.fc2_bias));
    if (saved != nullptr) *saved = {h.contiguous(), pre, act, std::string(activation)};
    return y;
}

Tensor feed_forward_backward(const FeedForwardWeights& w, const FeedForwardSaved& s,
                             const Tensor& dy, FeedForwardWeights& g) {
    constexpr std::string_view where = "feed_forward_backward";
    check_argument(s.h.defined(), where, "saved", "empty", "what feed_forward_forward filled in");
    check_shape(where, "dy", dy, {s.h.dim(0), w.fc2.dim(0)});
    Tensor da = linear_backward(dy.to(s.h.dtype()).contiguous(), s.act, w.fc2, g.fc2,
                                if_defined(g.fc2_bias));
    if (da.dtype() == DType::F32) {
        activation_backward(s.activation, s.pre.data<float>(), da.data<float>(), da.numel());
    } else {
        activation_backward(s.activation, s.pre.data<double>(), da.data<double>(), da.numel());
    }
    return linear_backward(da, s.h, w.fc1, g.fc1, if_defined(g.fc1_bias));
}

}  // namespace structseq
