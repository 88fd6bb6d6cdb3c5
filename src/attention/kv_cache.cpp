#include "structseq/attention/kv_cache.h"

#include "attention_inputs.h"
#include "softmax_attention_rows.h"
#include "structseq/attention/spectral_kv_cache.h"
#include "structseq/core/error.h"

#include <string>

namespace structseq {

using attention_detail::check_kv_append;
using attention_detail::check_kv_query;

ExactKvCache::ExactKvCache(std::int64_t heads, std::int64_t head_dim)
    : heads_(heads),
      head_dim_(head_dim),
      keys_(static_cast<std::size_t>(heads)),
      values_(static_cast<std::size_t>(heads)) {
    check_argument(heads >= 1 && head_dim >= 1, "ExactKvCache", "heads, head_dim",
                   fmt::format("{}, {}", heads, head_dim), ">= 1 each");
}

void ExactKvCache::append(const Tensor& k_in, const Tensor& v_in) {
    check_kv_append("ExactKvCache.append", k_in, v_in, heads_, head_dim_);
    const Tensor k = k_in.to(DType::F32).contiguous(), v = v_in.to(DType::F32).contiguous();
    const std::int64_t n = k.dim(1), row = n * head_dim_;
    for (std::int64_t h = 0; h < heads_; ++h) {
        auto& keys = keys_[static_cast<std::size_t>(h)];
        auto& values = values_[static_cast<std::size_t>(h)];
        keys.insert(keys.end(), k.data<float>() + h * row, k.data<float>() + (h + 1) * row);
        values.insert(values.end(), v.data<float>() + h * row, v.data<float>() + (h + 1) * row);
    }
    length_ += n;
}

Tensor ExactKvCache::attend(const Tensor& q_in) const {
    check_kv_query("ExactKvCache.attend", q_in, heads_, head_dim_, length_);
    const Tensor q = q_in.to(DType::F32).contiguous();
    const std::int64_t n_q = q.dim(1);
    Tensor out = Tensor::empty({heads_, n_q, head_dim_}, DType::F32);
    const attention_detail::AttentionDims dims{1, 1, n_q, length_, head_dim_, head_dim_};
    std::vector<float> scratch;
    for (std::int64_t h = 0; h < heads_; ++h) {
        softmax_attention_rows(dims, false, 0, n_q, q.data<float>() + h * n_q * head_dim_,
                               keys_[static_cast<std::size_t>(h)].data(),
                               values_[static_cast<std::size_t>(h)].data(),
                               out.data<float>() + h * n_q * head_dim_, nullptr, scratch);
    }
    return out;
}

std::int64_t ExactKvCache::memory_bytes() const {
    return 2 * heads_ * length_ * head_dim_ * static_cast<std::int64_t>(sizeof(float));
}

std::unique_ptr<KvCache> ExactKvCache::clone() const {
    return std::make_unique<ExactKvCache>(*this);
}

std::unique_ptr<KvCache> make_kv_cache(const KvCacheOptions& o, std::int64_t heads,
                                       std::int64_t head_dim) {
    if (o.kind == "exact") return std::make_unique<ExactKvCache>(heads, head_dim);
    check_argument(o.kind == "spectral", "make_kv_cache", "kind", o.kind, "exact or spectral");
    return std::make_unique<SpectralKVCache>(heads, head_dim, o.block_size, o.k_rank_keys,
                                             o.k_rank_values, o.seed);
}

}  // namespace structseq
