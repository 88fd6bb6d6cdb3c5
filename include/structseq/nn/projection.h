#pragma once
// A linear map y = x Wᵀ (+ b) over flat rows x (M, in) → y (M, out), with W stored in one of
// seed 002's selective parameterizations:
//   dense         W (out, in)
//   block_sparse  W in (bs × bs) blocks, `keep` of the in/bs blocks of every block row nonzero:
//                 block row i as a dense (bs, keep·bs) matrix over its kept input columns,
//                 values (out/bs, bs, keep·bs), and those block columns (out/bs, keep) int64.
//                 The pattern is fixed: block row i keeps the block columns
//                 (i + ⌊j·in_blocks/keep⌋) mod in_blocks, j < keep, so every block column is used
//                 about equally. Stored and multiplied sparsely (one GEMM per block row over its
//                 gathered input columns): keep/(in/bs) of dense's FLOPs and memory.
//   low_rank      W = U V (+ diag(d) when out = in, seed 002's "U·V + diagonal"):
//                 U (out, r), V (r, in), d (out); r (in + out) (+ out) numbers, as many FLOPs.
// Backward (gradients accumulate): dx = dy W;  dW += dyᵀ x restricted to the stored form:
//   block_sparse  dW_ij += dy_iᵀ x_col(i,j) per stored block
//   low_rank      t = x Vᵀ: dU += dyᵀ t;  dV += (dy U)ᵀ x;  dd += Σ_rows dy ⊙ x
// float32 or float64, one dtype throughout; OpenBLAS GEMMs.

#include "structseq/core/tensor.h"

#include <cstdint>
#include <string_view>

namespace structseq {

class Rng;

struct Projection {
    enum class Kind { Dense, BlockSparse, LowRank };
    Kind kind = Kind::Dense;
    Tensor weight;               // dense (out, in)
    Tensor blocks, block_cols;   // block_sparse: (out/bs, bs, keep·bs), (out/bs, keep) int64
    std::int64_t sparse_in = 0;  // block_sparse: in (the pattern alone does not give it)
    Tensor U, V, diag;           // low_rank (diag only when out = in)

    Projection() = default;
    // A dense projection (implicit: a weight matrix is a dense projection).
    Projection(Tensor dense_weight);  // NOLINT(google-explicit-constructor)

    // Zero values of the given sparsity: the largest block size ≤ 32 dividing in and out (a
    // power of two), keep = max(1, round((1 − sparsity) · in/bs)). Error unless 0 ≤ sparsity < 1.
    static Projection block_sparse(std::int64_t out, std::int64_t in, double sparsity, DType dtype);
    // Zero U, V (and d when out = in) of rank r (1 ≤ r ≤ min(out, in)).
    static Projection low_rank(std::int64_t out, std::int64_t in, std::int64_t rank, DType dtype);

    bool defined() const;
    std::int64_t out_features() const;
    std::int64_t in_features() const;
    DType dtype() const;
    std::int64_t parameter_count() const;
    std::int64_t fan_in() const;         // inputs per output: in, or keep · bs for block_sparse
    std::int64_t block_size() const;     // block_sparse only
    std::string_view kind_name() const;  // "dense", "block_sparse", "low_rank"

    // The same kind and pattern with zero values (for gradients).
    Projection zeros_like() const;
    // W as a dense (out, in) matrix (tests, export).
    Tensor to_dense() const;
    // Uniform values in ±bound for every stored matrix; low_rank scales U and V so that
    // U V has the entry variance of a dense U(±bound) matrix, with d = 0.
    void fill_uniform(Rng& rng, double bound);
};

Tensor projection_forward(const Projection& p, const Tensor& x, const Tensor* bias = nullptr);

// Returns dx (M, in); adds into `grads` (shaped by p.zeros_like()) and, when given, dbias.
Tensor projection_backward(const Projection& p, const Tensor& dy, const Tensor& x,
                           Projection& grads, Tensor* dbias = nullptr);

}  // namespace structseq
