#pragma once
// The argument checks the attention kernels and KV caches share: q (batch, heads, n_q, d), k
// (batch, heads, n, d), v (batch, heads, n, d_v), one float dtype.

#include "structseq/core/tensor.h"

#include <cstdint>
#include <string_view>

namespace structseq::attention_detail {

struct AttentionDims {
    std::int64_t batch, heads, n_q, n, d, dv;  // dv = 0 without v
    std::int64_t heads_total() const { return batch * heads; }
};

// What causal attention asks of the query count.
enum class QueryCount { Any, EqualsKeys, AtMostKeys };

// Error naming the argument unless the shapes and dtypes fit; v may be null.
AttentionDims check_attention_inputs(std::string_view where, const Tensor& q, const Tensor& k,
                                     const Tensor* v, QueryCount queries);

// Error naming the argument unless k and v are float (heads, n, head_dim) alike, n >= 1: what a
// KV cache's append takes.
void check_kv_append(const char* where, const Tensor& k, const Tensor& v, std::int64_t heads,
                     std::int64_t head_dim);
// Error unless q is float (heads, n_q, head_dim) and the cache holds a position.
void check_kv_query(const char* where, const Tensor& q, std::int64_t heads, std::int64_t head_dim,
                    std::int64_t length);

}  // namespace structseq::attention_detail
