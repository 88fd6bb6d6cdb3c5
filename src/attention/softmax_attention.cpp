#include "structseq/attention/softmax_attention.h"

#include "attention_inputs.h"
#include "linalg/blas.h"
#include "softmax_attention_rows.h"
#include "ssm/lane_exp.h"
#include "structseq/core/cpu_dispatch.h"
#include "structseq/core/error.h"
#include "structseq/core/threads.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string_view>
#include <vector>

namespace structseq {

namespace {

using Index = std::int64_t;
using attention_detail::AttentionDims;
using attention_detail::QueryCount;
using blas::gemm_rows;

constexpr Index kQueryBlock = 64;

// max_j row[j] and, in place, row[j] ← exp(row[j] − shift) with their sum, over j < n: 16
// float32 lanes at a time with the vectorized exp (ssm/lane_exp.h), float64 with std::exp.
STRUCTSEQ_CPU_CLONES
float row_max(const float* row, Index n) {
    using ssm_detail::Lanes16f;
    Lanes16f top = Lanes16f{} + row[0];
    Index j = 0;
    for (; j + 16 <= n; j += 16) {
        const Lanes16f x = load_lanes<Lanes16f>(row + j);
        top = x > top ? x : top;
    }
    float out = top[0];
    for (int l = 1; l < 16; ++l) out = std::max(out, top[l]);
    for (; j < n; ++j) out = std::max(out, row[j]);
    return out;
}

double row_max(const double* row, Index n) {
    return *std::max_element(row, row + n);
}

STRUCTSEQ_CPU_CLONES
double exp_shifted(float* row, Index n, float shift) {
    using ssm_detail::Lanes16f;
    Lanes16f acc{};
    Index j = 0;
    for (; j + 16 <= n; j += 16) {
        const Lanes16f e = ssm_detail::lane_exp(load_lanes<Lanes16f>(row + j) - shift);
        store_lanes(row + j, e);
        acc += e;
    }
    double sum = 0;
    for (int l = 0; l < 16; ++l) sum += acc[l];
    for (; j < n; ++j) sum += row[j] = std::exp(row[j] - shift);
    return sum;
}

double exp_shifted(double* row, Index n, double shift) {
    double sum = 0;
    for (Index j = 0; j < n; ++j) sum += row[j] = std::exp(row[j] - shift);
    return sum;
}

// The keys query row r of a block starting at q0 sees: all n, or 0 … q0 + r + n − n_q (causal).
Index visible_keys(const AttentionDims& s, bool causal, Index row) {
    return causal ? row + s.n - s.n_q + 1 : s.n;
}

// One block of queries [q0, q0 + rows) of one head: S = Q Kᵀ / √d over the keys the block sees
// (`width`), then P = softmax row by row in place, with each row's log-sum-exp.
template <class Real>
void block_probabilities(const AttentionDims& s, bool causal, Index q0, Index rows, Index width,
                         const Real* Q, const Real* K, Real* S, double* lse) {
    const Real scale = Real(1 / std::sqrt(double(s.d)));
    if (rows == 1) {  // one query (a generated token): a matrix-vector product
        blas::gemv(CblasRowMajor, CblasNoTrans, width, s.d, scale, K, s.d, Q, Real(0), S);
    } else {
        gemm_rows(false, true, rows, width, s.d, scale, Q, s.d, K, s.d, Real(0), S, width);
    }
    for (Index r = 0; r < rows; ++r) {
        Real* row = S + r * width;
        const Index seen = std::min(width, visible_keys(s, causal, q0 + r));
        const Real top = row_max(row, seen);
        const double sum = exp_shifted(row, seen, top);
        const double log_sum = static_cast<double>(top) + std::log(sum);
        const Real inverse = static_cast<Real>(1 / sum);
        for (Index j = 0; j < seen; ++j) row[j] *= inverse;
        std::fill(row + seen, row + width, Real(0));
        if (lse != nullptr) lse[r] = log_sum;
    }
}

// As above from a kept log-sum-exp (the backward's recomputation).
template <class Real>
void block_probabilities_from(const AttentionDims& s, bool causal, Index q0, Index rows,
                              Index width, const Real* Q, const Real* K, const double* lse,
                              Real* S) {
    const Real scale = Real(1 / std::sqrt(double(s.d)));
    gemm_rows(false, true, rows, width, s.d, scale, Q, s.d, K, s.d, Real(0), S, width);
    for (Index r = 0; r < rows; ++r) {
        Real* row = S + r * width;
        const Index seen = std::min(width, visible_keys(s, causal, q0 + r));
        exp_shifted(row, seen, static_cast<Real>(lse[r]));
        std::fill(row + seen, row + width, Real(0));
    }
}

}  // namespace

template <class Real>
void softmax_attention_rows(const AttentionDims& s, bool causal, Index q0, Index rows,
                            const Real* Q, const Real* K, const Real* V, Real* out, double* lse,
                            std::vector<Real>& scratch) {
    const Index width = std::min(s.n, visible_keys(s, causal, q0 + rows - 1));
    scratch.resize(static_cast<std::size_t>(rows * width));
    block_probabilities(s, causal, q0, rows, width, Q, K, scratch.data(), lse);
    if (rows == 1) {
        blas::gemv(CblasRowMajor, CblasTrans, width, s.dv, Real(1), V, s.dv, scratch.data(),
                   Real(0), out);
    } else {
        gemm_rows(false, false, rows, s.dv, width, Real(1), scratch.data(), width, V, s.dv, Real(0),
                  out, s.dv);
    }
}

template void softmax_attention_rows(const AttentionDims&, bool, Index, Index, const float*,
                                     const float*, const float*, float*, double*,
                                     std::vector<float>&);
template void softmax_attention_rows(const AttentionDims&, bool, Index, Index, const double*,
                                     const double*, const double*, double*, double*,
                                     std::vector<double>&);

SoftmaxAttentionResult softmax_attention(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in,
                                         bool causal) {
    constexpr std::string_view where = "softmax_attention";
    const AttentionDims s = attention_detail::check_attention_inputs(
        where, q_in, k_in, &v_in, causal ? QueryCount::AtMostKeys : QueryCount::Any);
    const Tensor q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
    SoftmaxAttentionResult r{Tensor::empty({s.batch, s.heads, s.n_q, s.dv}, q.dtype()),
                             Tensor::empty({s.batch, s.heads, s.n_q}, DType::F64)};
    const Index blocks = (s.n_q + kQueryBlock - 1) / kQueryBlock;
    const auto run = [&]<class Real>(Real) {
#pragma omp parallel num_threads(num_threads())
        {
            std::vector<Real> S;
#pragma omp for schedule(dynamic)
            for (Index task = 0; task < s.heads_total() * blocks; ++task) {
                const Index bh = task / blocks, q0 = (task % blocks) * kQueryBlock;
                const Index rows = std::min(kQueryBlock, s.n_q - q0);
                const Index at = bh * s.n_q + q0;
                softmax_attention_rows(
                    s, causal, q0, rows, q.data<Real>() + at * s.d, k.data<Real>() + bh * s.n * s.d,
                    v.data<Real>() + bh * s.n * s.dv, r.out.data<Real>() + at * s.dv,
                    r.logsumexp.data<double>() + at, S);
            }
        }
    };
    q.dtype() == DType::F32 ? run(0.0f) : run(0.0);
    return r;
}

Tensor softmax_attention_weights(const Tensor& q_in, const Tensor& k_in, bool causal) {
    const AttentionDims s =
        attention_detail::check_attention_inputs("softmax_attention_weights", q_in, k_in, nullptr,
                                                 causal ? QueryCount::AtMostKeys : QueryCount::Any);
    const Tensor q = q_in.contiguous(), k = k_in.contiguous();
    Tensor P = Tensor::empty({s.batch, s.heads, s.n_q, s.n}, q.dtype());
    const auto run = [&]<class Real>(Real) {
#pragma omp parallel for num_threads(num_threads()) schedule(dynamic)
        for (Index bh = 0; bh < s.heads_total(); ++bh) {
            block_probabilities(s, causal, 0, s.n_q, s.n, q.data<Real>() + bh * s.n_q * s.d,
                                k.data<Real>() + bh * s.n * s.d, P.data<Real>() + bh * s.n_q * s.n,
                                nullptr);
        }
    };
    q.dtype() == DType::F32 ? run(0.0f) : run(0.0);
    return P;
}

SoftmaxAttentionGrads softmax_attention_backward(const Tensor& dout_in, const Tensor& q_in,
                                                 const Tensor& k_in, const Tensor& v_in,
                                                 const SoftmaxAttentionResult& forward,
                                                 bool causal) {
    constexpr std::string_view where = "softmax_attention_backward";
    const AttentionDims s = attention_detail::check_attention_inputs(
        where, q_in, k_in, &v_in, causal ? QueryCount::AtMostKeys : QueryCount::Any);
    check_shape(where, "dout", dout_in, {s.batch, s.heads, s.n_q, s.dv});
    check_shape(where, "forward.out", forward.out, {s.batch, s.heads, s.n_q, s.dv});
    check_shape(where, "forward.logsumexp", forward.logsumexp, {s.batch, s.heads, s.n_q});
    const Tensor q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
    const Tensor dout = dout_in.to(q.dtype()).contiguous(),
                 out = forward.out.to(q.dtype()).contiguous(),
                 lse = forward.logsumexp.to(DType::F64).contiguous();
    SoftmaxAttentionGrads g{Tensor::empty(q.shape(), q.dtype()), Tensor(k.shape(), q.dtype()),
                            Tensor(v.shape(), q.dtype())};
    const auto run = [&]<class Real>(Real) {
        const Real scale = Real(1 / std::sqrt(double(s.d)));
#pragma omp parallel num_threads(num_threads())
        {
            std::vector<Real> P, dP;
#pragma omp for schedule(dynamic)
            for (Index bh = 0; bh < s.heads_total(); ++bh) {
                const Real* K = k.data<Real>() + bh * s.n * s.d;
                const Real* V = v.data<Real>() + bh * s.n * s.dv;
                Real* dK = g.dk.data<Real>() + bh * s.n * s.d;
                Real* dV = g.dv.data<Real>() + bh * s.n * s.dv;
                for (Index q0 = 0; q0 < s.n_q; q0 += kQueryBlock) {
                    const Index rows = std::min(kQueryBlock, s.n_q - q0);
                    const Index width = std::min(s.n, visible_keys(s, causal, q0 + rows - 1));
                    const Index at = bh * s.n_q + q0;
                    const Real* Q = q.data<Real>() + at * s.d;
                    const Real* dO = dout.data<Real>() + at * s.dv;
                    const Real* O = out.data<Real>() + at * s.dv;
                    P.resize(static_cast<std::size_t>(rows * width));
                    dP.resize(P.size());
                    block_probabilities_from(s, causal, q0, rows, width, Q, K,
                                             lse.data<double>() + at, P.data());
                    gemm_rows(true, false, width, s.dv, rows, Real(1), P.data(), width, dO, s.dv,
                              Real(1), dV, s.dv);
                    gemm_rows(false, true, rows, width, s.dv, Real(1), dO, s.dv, V, s.dv, Real(0),
                              dP.data(), width);
                    for (Index r = 0; r < rows; ++r) {  // dS = P ⊙ (dP − rowsum(dO ⊙ O))
                        double delta = 0;
                        for (Index c = 0; c < s.dv; ++c)
                            delta += double(dO[r * s.dv + c]) * O[r * s.dv + c];
                        for (Index j = 0; j < width; ++j) {
                            dP[r * width + j] =
                                static_cast<Real>(P[r * width + j] * (dP[r * width + j] - delta));
                        }
                    }
                    gemm_rows(false, false, rows, s.d, width, scale, dP.data(), width, K, s.d,
                              Real(0), g.dq.data<Real>() + at * s.d, s.d);
                    gemm_rows(true, false, width, s.d, rows, scale, dP.data(), width, Q, s.d,
                              Real(1), dK, s.d);
                }
            }
        }
    };
    q.dtype() == DType::F32 ? run(0.0f) : run(0.0);
    return g;
}

}  // namespace structseq
