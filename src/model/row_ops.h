#pragma once
// Small whole-tensor helpers the model files share (float32 or float64 tensors).

#include "structseq/core/rng.h"
#include "structseq/core/tensor.h"

#include <cstdint>
#include <cstring>
#include <vector>

namespace structseq::model_detail {

// x += y elementwise (same shape and dtype, contiguous).
inline void add_in_place(Tensor& x, const Tensor& y) {
    const auto run = [&]<class Real>(Real) {
        Real* px = x.data<Real>();
        const Real* py = y.data<Real>();
#pragma omp simd
        for (std::int64_t k = 0; k < x.numel(); ++k) px[k] += py[k];
    };
    x.dtype() == DType::F32 ? run(0.0f) : run(0.0);
}

// x *= y elementwise (same shape and dtype, contiguous).
inline void multiply_in_place(Tensor& x, const Tensor& y) {
    const auto run = [&]<class Real>(Real) {
        Real* px = x.data<Real>();
        const Real* py = y.data<Real>();
#pragma omp simd
        for (std::int64_t k = 0; k < x.numel(); ++k) px[k] *= py[k];
    };
    x.dtype() == DType::F32 ? run(0.0f) : run(0.0);
}

// An inverted-dropout mask shaped like `like`: 0 with probability p, else 1/(1 − p), from
// Rng(seed, stream).
inline Tensor dropout_mask(const Tensor& like, double p, std::uint64_t seed, std::uint64_t stream) {
    Tensor mask = Rng(seed, stream).uniform(like.shape(), like.dtype());
    const auto run = [&]<class Real>(Real) {
        Real* m = mask.data<Real>();
        const Real keep = static_cast<Real>(1 / (1 - p));
        for (std::int64_t k = 0; k < mask.numel(); ++k) m[k] = m[k] < p ? Real(0) : keep;
    };
    mask.dtype() == DType::F32 ? run(0.0f) : run(0.0);
    return mask;
}

// Rows `rows[k]` of the contiguous (·, width) matrix `from`, in order: (rows.size(), width).
inline Tensor gather_rows(const Tensor& from, const std::vector<std::int64_t>& rows) {
    const std::int64_t width = from.dim(1);
    const std::size_t bytes = static_cast<std::size_t>(width) * dtype_size(from.dtype());
    Tensor out = Tensor::empty({static_cast<std::int64_t>(rows.size()), width}, from.dtype());
    const auto* src = static_cast<const unsigned char*>(from.raw_data());
    auto* dst = static_cast<unsigned char*>(out.raw_data());
    for (std::size_t k = 0; k < rows.size(); ++k) {
        std::memcpy(dst + k * bytes, src + static_cast<std::size_t>(rows[k]) * bytes, bytes);
    }
    return out;
}

}  // namespace structseq::model_detail
