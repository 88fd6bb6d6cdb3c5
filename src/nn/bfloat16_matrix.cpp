#include "structseq/nn/bfloat16_matrix.h"

#include "structseq/core/error.h"
#include "structseq/core/float16.h"
#include "structseq/core/packed_tensors.h"

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

BFloat16Matrix::BFloat16Matrix(const Tensor& W_in) {
    check_float_matrix("BFloat16Matrix", W_in);
    const Tensor W = W_in.contiguous();
    bytes_ = Tensor::empty({2 * W.numel()}, DType::U8);
    std::transform(W.data<float>(), W.data<float>() + W.numel(),
                   reinterpret_cast<std::uint16_t*>(bytes_.raw_data()), float_to_bfloat16);
    rows_ = W.dim(0);
    cols_ = W.dim(1);
}

void BFloat16Matrix::pack(const std::vector<BFloat16Matrix*>& matrices) {
    std::vector<Tensor*> bytes;
    for (BFloat16Matrix* m : matrices) bytes.push_back(&m->bytes_);
    pack_tensors(bytes);
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
