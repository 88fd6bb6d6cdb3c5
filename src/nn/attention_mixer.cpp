#include "structseq/nn/attention_mixer.h"

#include "structseq/core/error.h"
#include "structseq/nn/linear.h"
#include "structseq/nn/rotary_embedding.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>

namespace structseq {

namespace {

using Index = std::int64_t;

void check_weights(std::string_view where, const AttentionMixerWeights& w,
                   const AttentionMixerOptions& o, const Tensor& h) {
    check_argument(w.defined() && w.out_proj.defined(), where, "weights", "incomplete",
                   "qkv and out_proj");
    check_argument(h.rank() == 2 && (h.dtype() == DType::F32 || h.dtype() == DType::F64), where,
                   "h",
                   "shape " + shape_string(h.shape()) + " " + std::string(dtype_name(h.dtype())),
                   "float (rows, d_model)");
    const Index d = h.dim(1);
    check_argument(o.heads >= 1 && d % o.heads == 0, where, "heads", std::to_string(o.heads),
                   fmt::format("a divisor of d_model = {}", d));
    check_argument(!o.rotary || (d / o.heads) % 2 == 0, where, "head_dim",
                   std::to_string(d / o.heads), "even, for rotary positions");
    check_shape(where, "qkv", w.qkv, {3 * d, d});
    check_shape(where, "out_proj", w.out_proj, {d, d});
    if (w.is_ridge()) check_shape(where, "log_lambda", w.log_lambda, {o.heads});
}

// Moves between time-major rows (batch·L, P·D), whose columns [p·D, (p+1)·D) are part p, and
// head-major tensors (batch, H, L, D/H): split copies part p out, merge writes t into part p of
// `rows` (a handle to the storage it fills; rows must be contiguous).
struct HeadLayout {
    Index batch, length, heads, d;
    Index head_dim() const { return d / heads; }

    Tensor split(const Tensor& rows, Index part) const {
        Tensor out = Tensor::empty({batch, heads, length, head_dim()}, rows.dtype());
        copy(rows, part, out, true);
        return out;
    }
    void merge(const Tensor& t, const Tensor& rows, Index part) const {
        copy(rows, part, t, false);
    }

private:
    void copy(const Tensor& rows, Index part, const Tensor& t, bool to_heads) const {
        const Index width = rows.dim(1), dh = head_dim();
        const auto run = [&]<class Real>(Real) {
            Real* r = rows.data<Real>();
            Real* p = t.data<Real>();
            for (Index b = 0; b < batch; ++b) {
                for (Index h = 0; h < heads; ++h) {
                    for (Index s = 0; s < length; ++s) {
                        Real* row = r + (b * length + s) * width + part * d + h * dh;
                        Real* head = p + ((b * heads + h) * length + s) * dh;
                        if (to_heads) {
                            std::copy_n(row, dh, head);
                        } else {
                            std::copy_n(head, dh, row);
                        }
                    }
                }
            }
        };
        rows.dtype() == DType::F32 ? run(0.0f) : run(0.0);
    }
};

std::vector<double> lambdas(const AttentionMixerWeights& w) {
    const Tensor l = w.log_lambda.to(DType::F64).contiguous();
    std::vector<double> out;
    for (Index h = 0; h < l.numel(); ++h) out.push_back(std::exp(l.data<double>()[h]));
    return out;
}

}  // namespace

AttentionMixerWeights AttentionMixerWeights::zeros_like() const {
    const auto z = [](const Tensor& t) {
        return t.defined() ? Tensor(t.shape(), t.dtype()) : Tensor();
    };
    return {z(qkv), z(out_proj), z(log_lambda)};
}

Tensor attention_mixer_forward(const AttentionMixerWeights& w, const AttentionMixerOptions& o,
                               const Tensor& h_in, std::int64_t batch, std::int64_t length,
                               AttentionMixerSaved* saved) {
    constexpr std::string_view where = "attention_mixer_forward";
    check_weights(where, w, o, h_in);
    check_argument(
        batch >= 1 && length >= 1 && h_in.dim(0) == batch * length, where, "h",
        "shape " + shape_string(h_in.shape()),
        fmt::format("(batch · length, d_model) with batch = {}, length = {}", batch, length));
    const Tensor h = h_in.contiguous();
    const HeadLayout layout{batch, length, o.heads, h.dim(1)};
    const Tensor qkv = linear_forward(h, w.qkv, nullptr);
    Tensor q = layout.split(qkv, 0), k = layout.split(qkv, 1), v = layout.split(qkv, 2);
    if (o.rotary) {
        apply_rotary(q, 0);
        apply_rotary(k, 0);
    }
    SoftmaxAttentionResult softmax;
    Tensor o4;
    if (w.is_ridge()) {
        o4 = ridge_attention(q, k, v, lambdas(w));
    } else {
        softmax = softmax_attention(q, k, v, true);
        o4 = softmax.out;
    }
    Tensor merged = Tensor::empty(h.shape(), h.dtype());
    layout.merge(o4, merged, 0);
    Tensor out = linear_forward(merged, w.out_proj, nullptr);
    if (saved != nullptr) {
        *saved = {batch,
                  length,
                  h,
                  std::move(q),
                  std::move(k),
                  std::move(v),
                  std::move(merged),
                  std::move(softmax)};
    }
    return out;
}

Tensor attention_mixer_backward(const AttentionMixerWeights& w, const AttentionMixerOptions& o,
                                const AttentionMixerSaved& s, const Tensor& dout,
                                AttentionMixerWeights& g) {
    constexpr std::string_view where = "attention_mixer_backward";
    check_argument(s.q.defined(), where, "saved", "empty",
                   "what attention_mixer_forward filled in");
    check_shape(where, "dout", dout, s.h.shape());
    const HeadLayout layout{s.batch, s.length, o.heads, s.h.dim(1)};
    const Tensor dmerged =
        linear_backward(dout.to(s.h.dtype()).contiguous(), s.o, w.out_proj, g.out_proj, nullptr);
    const Tensor do4 = layout.split(dmerged, 0);
    Tensor dq, dk, dv;
    if (w.is_ridge()) {
        const std::vector<double> lam = lambdas(w);
        RidgeAttentionGrads r = ridge_attention_backward(do4, s.q, s.k, s.v, lam);
        const auto add = [&]<class Real>(Real) {
            for (Index hd = 0; hd < o.heads; ++hd) {
                g.log_lambda.data<Real>()[hd] += static_cast<Real>(r.dlam[hd] * lam[hd]);
            }
        };
        g.log_lambda.dtype() == DType::F32 ? add(0.0f) : add(0.0);
        dq = std::move(r.dq);
        dk = std::move(r.dk);
        dv = std::move(r.dv);
    } else {
        SoftmaxAttentionGrads r = softmax_attention_backward(do4, s.q, s.k, s.v, s.softmax, true);
        dq = std::move(r.dq);
        dk = std::move(r.dk);
        dv = std::move(r.dv);
    }
    if (o.rotary) {
        apply_rotary(dq, 0, true);
        apply_rotary(dk, 0, true);
    }
    Tensor dqkv = Tensor::empty({s.h.dim(0), 3 * s.h.dim(1)}, s.h.dtype());
    layout.merge(dq, dqkv, 0);
    layout.merge(dk, dqkv, 1);
    layout.merge(dv, dqkv, 2);
    return linear_backward(dqkv, s.h, w.qkv, g.qkv, nullptr);
}

Tensor attention_mixer_weights(const AttentionMixerWeights& w, const AttentionMixerOptions& o,
                               const Tensor& h_in) {
    check_weights("attention_mixer_weights", w, o, h_in);
    const Tensor h = h_in.contiguous();
    const Index length = h.dim(0);
    const HeadLayout layout{1, length, o.heads, h.dim(1)};
    const Tensor qkv = linear_forward(h, w.qkv, nullptr);
    Tensor q = layout.split(qkv, 0), k = layout.split(qkv, 1);
    if (o.rotary) {
        apply_rotary(q, 0);
        apply_rotary(k, 0);
    }
    return (w.is_ridge() ? ridge_attention_weights(q, k, lambdas(w), true)
                         : softmax_attention_weights(q, k, true))
        .select(0, 0);
}

AttentionMixerCache attention_mixer_cache(const AttentionMixerWeights& w,
                                          const AttentionMixerOptions& o, std::int64_t d_model,
                                          const KvCacheOptions& kv_options) {
    const Index dh = d_model / o.heads;
    AttentionMixerCache cache;
    if (w.is_ridge()) {
        cache.ridge = std::make_unique<RidgeAttentionState>(o.heads, dh, dh, lambdas(w));
    } else {
        cache.kv = make_kv_cache(kv_options, o.heads, dh);
    }
    return cache;
}

Tensor attention_mixer_step(const AttentionMixerWeights& w, const AttentionMixerOptions& o,
                            const Tensor& h_in, std::int64_t position,
                            std::vector<AttentionMixerCache>& caches) {
    constexpr std::string_view where = "attention_mixer_step";
    check_weights(where, w, o, h_in);
    const Index batch = h_in.dim(0), d = h_in.dim(1);
    check_argument(static_cast<Index>(caches.size()) == batch, where, "caches",
                   std::to_string(caches.size()), fmt::format("one per sequence ({})", batch));
    const HeadLayout layout{1, 1, o.heads, d};
    const Tensor qkv = linear_forward(h_in.contiguous(), w.qkv, nullptr);  // (batch, 3d)
    Tensor merged = Tensor::empty({batch, d}, h_in.dtype());
    for (Index b = 0; b < batch; ++b) {
        const Tensor row = qkv.narrow(0, b, 1);
        Tensor q = layout.split(row, 0), k = layout.split(row, 1), v = layout.split(row, 2);
        if (o.rotary) {
            apply_rotary(q, position);
            apply_rotary(k, position);
        }
        AttentionMixerCache& cache = caches[static_cast<std::size_t>(b)];
        Tensor out;  // (H, 1, d_h) or (H, d_h)
        if (cache.ridge != nullptr) {
            const Index dh = d / o.heads;
            out = cache.ridge->step(q.reshape({o.heads, dh}), k.reshape({o.heads, dh}),
                                    v.reshape({o.heads, dh}));
        } else {
            cache.kv->append(k.select(0, 0), v.select(0, 0));
            out = cache.kv->attend(q.select(0, 0)).to(h_in.dtype());
        }
        layout.merge(out.reshape({1, o.heads, 1, d / o.heads}), merged.narrow(0, b, 1), 0);
    }
    return linear_forward(merged, w.out_proj, nullptr);
}

}  // namespace structseq
