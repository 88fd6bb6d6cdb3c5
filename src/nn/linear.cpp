#include "structseq/nn/linear.h"

#include "structseq/core/error.h"

#include "linalg/blas.h"
#include "streaming_gemv.h"

#include <algorithm>
#include <string>
#include <string_view>

namespace structseq {

namespace {

void check_operands(std::string_view where, const Tensor& x, const Tensor& W, const Tensor* b) {
    check_argument(x.dtype() == DType::F32 || x.dtype() == DType::F64, where, "x dtype",
                   std::string(dtype_name(x.dtype())), "float32 or float64");
    check_argument(x.rank() == 2, where, "x", "shape " + shape_string(x.shape()), "(M, in)");
    check_argument(W.dtype() == x.dtype(), where, "W dtype", std::string(dtype_name(W.dtype())),
                   std::string(dtype_name(x.dtype())) + " (as x)");
    check_shape(where, "W", W, {-1, x.dim(1)});
    if (b != nullptr) {
        check_argument(b->dtype() == x.dtype(), where, "b dtype",
                       std::string(dtype_name(b->dtype())),
                       std::string(dtype_name(x.dtype())) + " (as x)");
        check_shape(where, "b", *b, {W.dim(0)});
    }
}

}  // namespace

Tensor linear_forward(const Tensor& x_in, const Tensor& W_in, const Tensor* b) {
    check_operands("linear_forward", x_in, W_in, b);
    const Tensor x = x_in.contiguous(), W = W_in.contiguous();
    const std::int64_t m = x.dim(0), in = x.dim(1), out = W.dim(0);
    Tensor y = Tensor::empty({m, out}, x.dtype());
    const auto run = [&]<class Real>(Real) {
        Real* py = y.data<Real>();
        Real beta = 0;
        if (b != nullptr) {
            const Tensor bias = b->contiguous();
            for (std::int64_t r = 0; r < m; ++r) {
                std::copy_n(bias.data<Real>(), out, py + r * out);
            }
            beta = 1;
        }
        if (m == 1) {
            // One row (a token in generation): GEMM would first copy all of W into its packed
            // layout, doubling the memory traffic of a memory-bound product.
            streaming_gemv(W.data<Real>(), x.data<Real>(), py, out, in, beta);
        } else {
            blas::gemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, out, in, Real(1), x.data<Real>(),
                       in, W.data<Real>(), in, beta, py, out);
        }
    };
    x.dtype() == DType::F32 ? run(0.0f) : run(0.0);
    return y;
}

Tensor linear_backward(const Tensor& dy_in, const Tensor& x_in, const Tensor& W_in, Tensor& dW,
                       Tensor* db) {
    constexpr std::string_view where = "linear_backward";
    check_operands(where, x_in, W_in, nullptr);
    check_shape(where, "dy", dy_in, {x_in.dim(0), W_in.dim(0)});
    check_shape(where, "dW", dW, W_in.shape());
    dW.check_contiguous(where, "dW");
    if (db != nullptr) {
        check_shape(where, "db", *db, {W_in.dim(0)});
        db->check_contiguous(where, "db");
    }
    const Tensor dy = dy_in.to(x_in.dtype()).contiguous(), x = x_in.contiguous(),
                 W = W_in.contiguous();
    const std::int64_t m = x.dim(0), in = x.dim(1), out = W.dim(0);
    Tensor dx = Tensor::empty({m, in}, x.dtype());
    const auto run = [&]<class Real>(Real) {
        blas::gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, in, out, Real(1), dy.data<Real>(),
                   out, W.data<Real>(), in, Real(0), dx.data<Real>(), in);
        blas::gemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, m, Real(1), dy.data<Real>(),
                   out, x.data<Real>(), in, Real(1), dW.data<Real>(), in);
        if (db != nullptr) {
            Real* pb = db->data<Real>();
            const Real* pdy = dy.data<Real>();
            for (std::int64_t r = 0; r < m; ++r) {
                for (std::int64_t o = 0; o < out; ++o) pb[o] += pdy[r * out + o];
            }
        }
    };
    x.dtype() == DType::F32 ? run(0.0f) : run(0.0);
    return dx;
}

}  // namespace structseq
