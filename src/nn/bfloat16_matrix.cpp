#include "structseq/nn/bfloat16_matrix.h"

#include "structseq/core/error.h"
#include "structseq/core/float16.h"

#include "streaming_gemv.h"

#include <algorithm>
#include <string>

namespace structseq {

namespace {

void check_float_matrix(std::string_view where, const Tensor& W) {
    check_argument(W.defined() && W.dtype() == DType::F32, where, "W dtype",
                   W.defined() ? std::string(dtype_name(W.dtype())) : "undefined", "float32");
    check_argument(W.rank() == 2, where, "W", "shape " + shape_string(W.shape()), "(rows, cols)");
}

}  // namespace

BFloat16Matrix::BFloat16Matrix(const Tensor& W) : BFloat16Matrix(W, Tensor()) {}

BFloat16Matrix::BFloat16Matrix(const Tensor& W_in, Tensor bytes) {
    check_float_matrix("BFloat16Matrix", W_in);
    const Tensor W = W_in.contiguous();
    bytes_ = bytes.defined() ? std::move(bytes) : Tensor::empty({2 * W.numel()}, DType::U8);
    std::transform(W.data<float>(), W.data<float>() + W.numel(),
                   reinterpret_cast<std::uint16_t*>(bytes_.raw_data()), float_to_bfloat16);
    rows_ = W.dim(0);
    cols_ = W.dim(1);
}

std::vector<BFloat16Matrix> BFloat16Matrix::pack(const std::vector<Tensor>& matrices) {
    constexpr std::int64_t kAlign = 64;  // bytes: each matrix starts on a cache line
    const auto padded = [](const Tensor& W) {
        return (2 * W.numel() + kAlign - 1) / kAlign * kAlign;
    };
    std::int64_t total = 0;
    for (const Tensor& W : matrices) {
        check_float_matrix("BFloat16Matrix.pack", W);
        total += padded(W);
    }
    const Tensor arena = Tensor::empty({total}, DType::U8);
    std::vector<BFloat16Matrix> packed;
    std::int64_t offset = 0;
    for (const Tensor& W : matrices) {
        packed.push_back(BFloat16Matrix(W, arena.narrow(0, offset, 2 * W.numel())));
        offset += padded(W);
    }
    return packed;
}

const std::uint16_t* BFloat16Matrix::bits() const {
    return static_cast<const std::uint16_t*>(bytes_.raw_data());
}

Tensor BFloat16Matrix::to_float() const {
    check_argument(defined(), "BFloat16Matrix.to_float", "matrix", "empty", "a built matrix");
    Tensor W = Tensor::empty({rows_, cols_}, DType::F32);
    std::transform(bits(), bits() + rows_ * cols_, W.data<float>(), bfloat16_to_float);
    return W;
}

Tensor BFloat16Matrix::apply(const Tensor& x_in, const Tensor* bias) const {
    constexpr std::string_view where = "BFloat16Matrix.apply";
    check_argument(defined(), where, "matrix", "empty", "a built matrix");
    check_argument(x_in.dtype() == DType::F32, where, "x dtype",
                   std::string(dtype_name(x_in.dtype())), "float32");
    check_shape(where, "x", x_in, {-1, cols_});
    if (bias != nullptr) {
        check_argument(bias->dtype() == DType::F32, where, "b dtype",
                       std::string(dtype_name(bias->dtype())), "float32");
        check_shape(where, "b", *bias, {rows_});
    }
    const Tensor x = x_in.contiguous();
    const std::int64_t m = x.dim(0);
    Tensor y = Tensor::empty({m, rows_}, DType::F32);
    const Tensor b = bias != nullptr ? bias->contiguous() : Tensor();
    for (std::int64_t r = 0; r < m; ++r) {
        float* out = y.data<float>() + r * rows_;
        if (bias != nullptr) std::copy_n(b.data<float>(), rows_, out);
        streaming_gemv(bits(), x.data<float>() + r * cols_, out, rows_, cols_,
                       bias != nullptr ? 1.0f : 0.0f);
    }
    return y;
}

Tensor round_to_bfloat16(const Tensor& W) {
    check_float_matrix("round_to_bfloat16", W);
    return BFloat16Matrix(W).to_float();
}

}  // namespace structseq
