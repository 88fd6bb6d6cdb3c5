#pragma once
// A KV cache compressed by randomized SVD and int8 (seed 003), attending on the compressed form.
//
// Positions arrive in blocks of block_size per head. When a block fills, its keys K_b and values
// V_b (heads, block_size, head_dim) are factored by batched_randomized_svd (linalg/svd.h) as
// K_b ≈ U S Vh with rank k_rank_keys (values: k_rank_values); U and Vh are stored as int8 with one
// absmax scale per head and factor, S as float32. The latest, unfilled block stays float32.
//
// attend(q) never rebuilds K or V. For a query q and a compressed block:
//   scores = q K_bᵀ ≈ ((Vh q) ⊙ S)ᵀ Uᵀ          r·d + B·r multiply-adds instead of B·d,
//   p V_b  ≈ ((p U') ⊙ S') Vh'                   B·r' + r'·d instead of B·d,
// with one softmax over every block's scores and the recent block's exact ones.
//
// Memory per full block and head: B·(r + r') + d·(r + r') bytes plus 4·(r + r' + 4) for S and the
// scales, against 8·B·d bytes in float32; compression_ratio() = float32 bytes of every appended
// position / memory_bytes(). Accuracy depends on how close K_b and V_b are to low rank: real keys
// are, random ones are not (docs/attention.md has the measured figures).

#include "structseq/attention/kv_cache.h"

#include <cstdint>
#include <vector>

namespace structseq {

class SpectralKVCache final : public KvCache {
public:
    SpectralKVCache(std::int64_t num_heads, std::int64_t head_dim, std::int64_t block_size = 512,
                    std::int64_t k_rank_keys = 16, std::int64_t k_rank_values = 32,
                    std::uint64_t seed = 0);
    void append(const Tensor& k, const Tensor& v) override;
    Tensor attend(const Tensor& q) const override;
    std::int64_t length() const override { return length_; }
    std::int64_t memory_bytes() const override;
    std::unique_ptr<KvCache> clone() const override;

    // float32 bytes of the appended positions / memory_bytes().
    double compression_ratio() const;
    std::int64_t compressed_blocks() const { return static_cast<std::int64_t>(keys_.size()); }

    // One factored matrix per head: M_h ≈ U_h diag(S_h) Vh_h, U (rows, rank) and Vh (rank, cols)
    // int8 with scales u_scale[h], vh_scale[h]. Keys keep both transposed, Uᵀ (rank, rows) and
    // Vhᵀ (cols, rank), so that a query's two products run along contiguous rows.
    struct QuantizedFactors {
        std::int64_t rank = 0;
        std::vector<std::int8_t> U, Vh;  // (heads, rows, rank), (heads, rank, cols) per head
        std::vector<float> S, u_scale, vh_scale;
        std::int64_t bytes() const;
    };

private:
    void compress_recent();

    std::int64_t heads_, head_dim_, block_size_, rank_keys_, rank_values_;
    std::uint64_t seed_;
    std::int64_t length_ = 0, recent_ = 0;
    std::vector<QuantizedFactors> keys_, values_;     // per compressed block
    std::vector<float> recent_keys_, recent_values_;  // (heads, block_size, head_dim)
};

}  // namespace structseq
