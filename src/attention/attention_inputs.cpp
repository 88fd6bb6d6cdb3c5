#include "attention_inputs.h"

#include "structseq/core/error.h"

#include <string>
#include <utility>

namespace structseq::attention_detail {

AttentionDims check_attention_inputs(std::string_view where, const Tensor& q, const Tensor& k,
                                     const Tensor* v, QueryCount queries) {
    for (const auto& [t, name] : {std::pair{&q, "q"}, std::pair{&k, "k"}, std::pair{v, "v"}}) {
        if (t == nullptr) continue;
        check_argument(t->defined() && t->rank() == 4, where, name,
                       t->defined() ? "shape " + shape_string(t->shape()) : "missing",
                       "(batch, heads, n, d)");
        check_argument(t->dtype() == DType::F32 || t->dtype() == DType::F64, where,
                       std::string(name) + " dtype", std::string(dtype_name(t->dtype())),
                       "float32 or float64");
        check_argument(t->dtype() == q.dtype(), where, std::string(name) + " dtype",
                       std::string(dtype_name(t->dtype())),
                       std::string(dtype_name(q.dtype())) + " (as q)");
    }
    AttentionDims s{q.dim(0), q.dim(1), q.dim(2), k.dim(2), q.dim(3), v != nullptr ? v->dim(3) : 0};
    check_argument(s.batch >= 1 && s.heads >= 1 && s.n_q >= 1 && s.d >= 1, where, "q",
                   "shape " + shape_string(q.shape()), "(batch, heads, n, d), every size >= 1");
    check_shape(where, "k", k, {s.batch, s.heads, -1, s.d});
    check_argument(s.n >= 1, where, "k", "shape " + shape_string(k.shape()), "n >= 1 keys");
    if (v != nullptr) {
        check_shape(where, "v", *v, {s.batch, s.heads, s.n, -1});
        check_argument(s.dv >= 1, where, "v", "shape " + shape_string(v->shape()), "d_v >= 1");
    }
    if (queries == QueryCount::EqualsKeys) {
        check_argument(s.n_q == s.n, where, "q", "shape " + shape_string(q.shape()),
                       fmt::format("n = {} queries, as many as keys (causal)", s.n));
    } else if (queries == QueryCount::AtMostKeys) {
        check_argument(s.n_q <= s.n, where, "q", "shape " + shape_string(q.shape()),
                       fmt::format("at most n = {} queries, the last positions (causal)", s.n));
    }
    return s;
}

void check_kv_append(const char* where, const Tensor& k, const Tensor& v, std::int64_t heads,
                     std::int64_t head_dim) {
    for (const auto& [t, name] : {std::pair{&k, "k"}, std::pair{&v, "v"}}) {
        check_argument(t->defined() && (t->dtype() == DType::F32 || t->dtype() == DType::F64),
                       where, std::string(name) + " dtype",
                       t->defined() ? std::string(dtype_name(t->dtype())) : "missing",
                       "float32 or float64");
        check_argument(
            t->rank() == 3 && t->dim(0) == heads && t->dim(1) >= 1 && t->dim(2) == head_dim, where,
            name, "shape " + shape_string(t->shape()),
            fmt::format("(heads = {}, n >= 1, head_dim = {})", heads, head_dim));
    }
    check_argument(k.dim(1) == v.dim(1), where, "v", "shape " + shape_string(v.shape()),
                   fmt::format("as many positions as k ({})", k.dim(1)));
}

void check_kv_query(const char* where, const Tensor& q, std::int64_t heads, std::int64_t head_dim,
                    std::int64_t length) {
    check_argument(q.defined() && (q.dtype() == DType::F32 || q.dtype() == DType::F64), where,
                   "q dtype", q.defined() ? std::string(dtype_name(q.dtype())) : "missing",
                   "float32 or float64");
    check_argument(q.rank() == 3 && q.dim(0) == heads && q.dim(1) >= 1 && q.dim(2) == head_dim,
                   where, "q", "shape " + shape_string(q.shape()),
                   fmt::format("(heads = {}, n_q >= 1, head_dim = {})", heads, head_dim));
    check_argument(length >= 1, where, "cache", "empty", "append() before attend()");
}

}  // namespace structseq::attention_detail
