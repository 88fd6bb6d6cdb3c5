#pragma once
// The keys and values one sequence has produced so far, per head, for generation with softmax
// attention. append(k, v) adds n positions, k and v (heads, n, head_dim) float32; attend(q) for
// q (heads, n_q, head_dim) returns softmax(q Kᵀ / √head_dim) V over every appended position,
// (heads, n_q, head_dim) float32.
//
// ExactKvCache keeps them as float32 (2 · heads · n · head_dim · 4 bytes); SpectralKVCache
// (spectral_kv_cache.h) compresses full blocks. make_kv_cache picks one from KvCacheOptions.

#include "structseq/core/tensor.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace structseq {

class KvCache {
public:
    virtual ~KvCache() = default;
    virtual void append(const Tensor& k, const Tensor& v) = 0;
    virtual Tensor attend(const Tensor& q) const = 0;
    virtual std::int64_t length() const = 0;        // positions appended
    virtual std::int64_t memory_bytes() const = 0;  // what the cache holds
    virtual std::unique_ptr<KvCache> clone() const = 0;
};

class ExactKvCache final : public KvCache {
public:
    ExactKvCache(std::int64_t heads, std::int64_t head_dim);
    void append(const Tensor& k, const Tensor& v) override;
    Tensor attend(const Tensor& q) const override;
    std::int64_t length() const override { return length_; }
    std::int64_t memory_bytes() const override;
    std::unique_ptr<KvCache> clone() const override;

private:
    std::int64_t heads_, head_dim_, length_ = 0;
    std::vector<std::vector<float>> keys_, values_;  // per head (length, head_dim)
};

struct KvCacheOptions {
    std::string kind = "exact";  // "exact" or "spectral"
    std::int64_t block_size = 512;
    std::int64_t k_rank_keys = 16;
    std::int64_t k_rank_values = 32;
    std::uint64_t seed = 0;
};

std::unique_ptr<KvCache> make_kv_cache(const KvCacheOptions& options, std::int64_t heads,
                                       std::int64_t head_dim);

}  // namespace structseq
