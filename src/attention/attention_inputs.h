#pragma once
// The argument checks the attention kernels share: q (batch, heads, n_q, d), k (batch, heads, n,
// d), v (batch, heads, n, d_v), one float dtype.

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

}  // namespace structseq::attention_detail
