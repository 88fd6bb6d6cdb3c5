#pragma once
// A weight matrix kept in bfloat16 for memory-bound products. Generation reads every weight once
// per token, so half the bytes is close to twice the tokens per second on a CPU whose products
// wait on memory. The values are a float32 (rows, cols) matrix rounded to the nearest bfloat16
// (ties to even, core/float16.h); products widen them in registers and sum in float32.

#include "structseq/core/tensor.h"

#include <cstdint>
#include <vector>

namespace structseq {

class BFloat16Matrix {
public:
    BFloat16Matrix() = default;
    // W float32 (rows, cols); Error otherwise.
    explicit BFloat16Matrix(const Tensor& W);
    // Moves the values of matrices under 4 MiB into one shared buffer (core/packed_tensors.h).
    // Generation reads every step matrix in turn: one large buffer sits on huge pages, where a
    // buffer per matrix of a few MiB sits on 4 KiB pages and each page costs a TLB miss
    // (mamba-130m's 2.4 MB bfloat16 out_proj read markedly slower so).
    static void pack(const std::vector<BFloat16Matrix*>& matrices);

    bool defined() const { return bytes_.defined(); }
    std::int64_t rows() const { return rows_; }
    std::int64_t cols() const { return cols_; }
    std::int64_t bytes() const { return 2 * rows_ * cols_; }
    // The stored values widened: float32 (rows, cols).
    Tensor to_float() const;
    // y = x Wᵀ (+ b): x float32 (M, cols), b (rows) → (M, rows), one streaming GEMV per row of x.
    Tensor apply(const Tensor& x, const Tensor* bias = nullptr) const;
    // The stored values, row-major: the high 16 bits of each float32 (core/float16.h).
    const std::uint16_t* bits() const;

private:
    // The values' bytes, uint8 (2 · rows · cols): a Tensor for its storage, aligned and on huge
    // pages when large, shared by copies.
    Tensor bytes_;
    std::int64_t rows_ = 0, cols_ = 0;
};

// W float32 with every value rounded to the nearest bfloat16: the values BFloat16Matrix(W) holds.
Tensor round_to_bfloat16(const Tensor& W);

}  // namespace structseq
