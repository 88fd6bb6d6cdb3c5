#include "structseq/attention/spectral_kv_cache.h"

#include "attention_inputs.h"
#include "linalg/blas.h"
#include "structseq/core/cpu_dispatch.h"
#include "structseq/core/error.h"
#include "structseq/core/threads.h"
#include "structseq/linalg/svd.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace structseq {

using attention_detail::check_kv_append;
using attention_detail::check_kv_query;

namespace {

using Index = std::int64_t;
using Factors = SpectralKVCache::QuantizedFactors;

// x / scale rounded to int8, with scale = max |x| / 127 over each head's `per_head` values.
void quantize(const float* x, Index heads, Index per_head, std::vector<std::int8_t>& q,
              std::vector<float>& scale) {
    q.resize(static_cast<std::size_t>(heads * per_head));
    scale.resize(static_cast<std::size_t>(heads));
    for (Index h = 0; h < heads; ++h) {
        const float* row = x + h * per_head;
        float top = 0;
        for (Index i = 0; i < per_head; ++i) top = std::max(top, std::abs(row[i]));
        const float s = top > 0 ? top / 127.0f : 1.0f;
        scale[static_cast<std::size_t>(h)] = s;
        for (Index i = 0; i < per_head; ++i) {
            q[static_cast<std::size_t>(h * per_head + i)] =
                static_cast<std::int8_t>(std::clamp(std::lround(row[i] / s), -127L, 127L));
        }
    }
}

// The rank-`rank` factors of every head's (rows, cols) block; `transposed` stores U as
// (rank, rows) and Vh as (cols, rank) per head.
Factors factor_block(const std::vector<float>& block, Index heads, Index rows, Index cols,
                     Index rank, std::uint64_t seed, bool transposed) {
    Tensor M = Tensor::empty({heads, rows, cols}, DType::F32);
    std::copy(block.begin(), block.end(), M.data<float>());
    const SvdResult svd = batched_randomized_svd(M, rank, 2, 5, seed);
    const auto layout = [&](const Tensor& t) {
        return (transposed ? t.transpose(1, 2) : t).contiguous();
    };
    Factors f;
    f.rank = rank;
    quantize(layout(svd.U).data<float>(), heads, rows * rank, f.U, f.u_scale);
    quantize(layout(svd.Vh).data<float>(), heads, rank * cols, f.Vh, f.vh_scale);
    const Tensor S = svd.S.contiguous();
    f.S.assign(S.data<float>(), S.data<float>() + S.numel());
    return f;
}

// y[0 … n) += a · x[0 … n) for int8 x, vectorized in each CPU clone.
STRUCTSEQ_CPU_CLONES
void add_scaled_int8(float a, const std::int8_t* x, float* y, Index n) {
    for (Index i = 0; i < n; ++i) y[i] += a * static_cast<float>(x[i]);
}

}  // namespace

std::int64_t Factors::bytes() const {
    return static_cast<std::int64_t>(U.size() + Vh.size() +
                                     4 * (S.size() + u_scale.size() + vh_scale.size()));
}

SpectralKVCache::SpectralKVCache(std::int64_t num_heads, std::int64_t head_dim,
                                 std::int64_t block_size, std::int64_t k_rank_keys,
                                 std::int64_t k_rank_values, std::uint64_t seed)
    : heads_(num_heads),
      head_dim_(head_dim),
      block_size_(block_size),
      rank_keys_(k_rank_keys),
      rank_values_(k_rank_values),
      seed_(seed) {
    constexpr std::string_view where = "SpectralKVCache";
    check_argument(num_heads >= 1 && head_dim >= 1, where, "num_heads, head_dim",
                   fmt::format("{}, {}", num_heads, head_dim), ">= 1 each");
    check_argument(block_size >= 2, where, "block_size", std::to_string(block_size), ">= 2");
    const Index most = std::min(block_size, head_dim);
    for (const auto& [rank, name] :
         {std::pair{k_rank_keys, "k_rank_keys"}, std::pair{k_rank_values, "k_rank_values"}}) {
        check_argument(rank >= 1 && rank <= most, where, name, std::to_string(rank),
                       fmt::format("in [1, min(block_size, head_dim) = {}]", most));
    }
    recent_keys_.resize(static_cast<std::size_t>(heads_ * block_size_ * head_dim_));
    recent_values_.resize(recent_keys_.size());
}

void SpectralKVCache::append(const Tensor& k_in, const Tensor& v_in) {
    check_kv_append("SpectralKVCache.append", k_in, v_in, heads_, head_dim_);
    const Tensor k = k_in.to(DType::F32).contiguous(), v = v_in.to(DType::F32).contiguous();
    const Index n = k.dim(1);
    for (Index t = 0; t < n;) {
        const Index take = std::min(n - t, block_size_ - recent_);
        for (Index h = 0; h < heads_; ++h) {
            const Index from = (h * n + t) * head_dim_,
                        to = (h * block_size_ + recent_) * head_dim_;
            std::copy_n(k.data<float>() + from, take * head_dim_, recent_keys_.data() + to);
            std::copy_n(v.data<float>() + from, take * head_dim_, recent_values_.data() + to);
        }
        recent_ += take;
        length_ += take;
        t += take;
        if (recent_ == block_size_) compress_recent();
    }
}

void SpectralKVCache::compress_recent() {
    const std::uint64_t block_seed = seed_ * 1000003 + keys_.size();
    keys_.push_back(factor_block(recent_keys_, heads_, block_size_, head_dim_, rank_keys_,
                                 block_seed, /*transposed=*/true));
    values_.push_back(factor_block(recent_values_, heads_, block_size_, head_dim_, rank_values_,
                                   block_seed, /*transposed=*/false));
    recent_ = 0;
}

Tensor SpectralKVCache::attend(const Tensor& q_in) const {
    check_kv_query("SpectralKVCache.attend", q_in, heads_, head_dim_, length_);
    const Tensor q = q_in.to(DType::F32).contiguous();
    const Index n_q = q.dim(1), d = head_dim_, B = block_size_;
    Tensor out(Shape{heads_, n_q, d}, DType::F32);
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    const Index base = static_cast<Index>(keys_.size()) * B;  // where the recent block starts
    // Heads in parallel (one query's work per head is B·(r + r') + d·(r + r') per block).
#pragma omp parallel for num_threads(num_threads()) schedule(static) if (heads_ > 1)
    for (Index h = 0; h < heads_; ++h) {
        std::vector<float> scores(static_cast<std::size_t>(length_)), t;
        for (Index row = 0; row < n_q; ++row) {
            const float* x = q.data<float>() + (h * n_q + row) * d;
            float* o = out.data<float>() + (h * n_q + row) * d;
            // Compressed blocks' scores: t = (Vh q) ⊙ S, then U t (keys are stored transposed,
            // Vhᵀ (d, r) and Uᵀ (r, B), so both run along contiguous rows).
            for (std::size_t b = 0; b < keys_.size(); ++b) {
                const Factors& f = keys_[b];
                const Index r = f.rank;
                const std::int8_t* VhT = f.Vh.data() + h * d * r;
                const std::int8_t* UT = f.U.data() + h * r * B;
                t.assign(static_cast<std::size_t>(r), 0.0f);
                for (Index j = 0; j < d; ++j) add_scaled_int8(x[j], VhT + j * r, t.data(), r);
                float* s = scores.data() + b * B;
                std::fill(s, s + B, 0.0f);
                for (Index i = 0; i < r; ++i) {
                    const float w = t[i] * f.vh_scale[h] * f.S[h * r + i] * f.u_scale[h] * scale;
                    add_scaled_int8(w, UT + i * B, s, B);
                }
            }
            if (recent_ > 0) {  // the recent block, exactly
                blas::gemv(CblasRowMajor, CblasNoTrans, recent_, d, scale,
                           recent_keys_.data() + h * B * d, d, x, 0.0f, scores.data() + base);
            }
            const float top = *std::max_element(scores.begin(), scores.end());
            double sum = 0;
            for (float& s : scores) sum += s = std::exp(s - top);
            for (float& s : scores) s = static_cast<float>(s / sum);
            // Output: compressed blocks through (p U') ⊙ S', then Vh'; the recent block exactly.
            for (std::size_t b = 0; b < values_.size(); ++b) {
                const Factors& f = values_[b];
                const Index r = f.rank;
                const std::int8_t* Vh = f.Vh.data() + h * r * d;
                const std::int8_t* U = f.U.data() + h * B * r;
                const float* p = scores.data() + b * B;
                t.assign(static_cast<std::size_t>(r), 0.0f);
                for (Index i = 0; i < B; ++i) add_scaled_int8(p[i], U + i * r, t.data(), r);
                for (Index i = 0; i < r; ++i) {
                    const float w = t[i] * f.u_scale[h] * f.S[h * r + i] * f.vh_scale[h];
                    add_scaled_int8(w, Vh + i * d, o, d);
                }
            }
            if (recent_ > 0) {
                blas::gemv(CblasRowMajor, CblasTrans, recent_, d, 1.0f,
                           recent_values_.data() + h * B * d, d, scores.data() + base, 1.0f, o);
            }
        }
    }
    return out;
}

std::int64_t SpectralKVCache::memory_bytes() const {
    std::int64_t bytes =
        static_cast<std::int64_t>((recent_keys_.size() + recent_values_.size()) * sizeof(float));
    for (std::size_t b = 0; b < keys_.size(); ++b) bytes += keys_[b].bytes() + values_[b].bytes();
    return bytes;
}

double SpectralKVCache::compression_ratio() const {
    return static_cast<double>(2 * heads_ * length_ * head_dim_ * 4) /
           static_cast<double>(memory_bytes());
}

std::unique_ptr<KvCache> SpectralKVCache::clone() const {
    return std::make_unique<SpectralKVCache>(*this);
}

}  // namespace structseq
