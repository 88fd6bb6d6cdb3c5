#include "structseq/nn/linear.h"

#include "structseq/core/error.h"
#include "structseq/core/lane_vector.h"
#include "structseq/core/threads.h"

#include "linalg/blas.h"

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

// y[r] = β y[r] + W[r, :] · x for r < out, one thread, 64-byte lanes: small products run here,
// since OpenBLAS threads even small GEMVs on its own and a fork and join cost more than the
// product.
template <class Real>
void small_gemv(const Real* W, const Real* x, Real* y, std::int64_t out, std::int64_t in,
                Real beta) {
    constexpr int lanes = 64 / static_cast<int>(sizeof(Real));
    using V = LaneVector<Real, lanes>;
    for (std::int64_t r = 0; r < out; ++r) {
        const Real* w = W + r * in;
        V acc = {};
        std::int64_t k = 0;
        for (; k + lanes <= in; k += lanes) acc += load_lanes<V>(w + k) * load_lanes<V>(x + k);
        Real sum = 0;
        for (int l = 0; l < lanes; ++l) sum += acc[l];
        for (; k < in; ++k) sum += w[k] * x[k];
        y[r] = (beta != 0 ? beta * y[r] : Real(0)) + sum;
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
            // layout, doubling the memory traffic of a memory-bound product. The threads split
            // W's rows, one GEMV each (OpenBLAS runs single-threaded inside our region), which
            // streams W at the machine's full read bandwidth; OpenBLAS's own threaded GEMV
            // does not. Below 2^18 weights (1 MiB in float32) one thread streams W faster than
            // a fork and join take (small_gemv).
            if (out * in < (1 << 18)) {
                small_gemv(W.data<Real>(), x.data<Real>(), py, out, in, beta);
                return;
            }
            const int threads = num_threads();
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
            for (int part = 0; part < threads; ++part) {
                const std::int64_t begin = out * part / threads, end = out * (part + 1) / threads;
                blas::gemv(CblasRowMajor, CblasNoTrans, end - begin, in, Real(1),
                           W.data<Real>() + begin * in, in, x.data<Real>(), beta, py + begin);
            }
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
