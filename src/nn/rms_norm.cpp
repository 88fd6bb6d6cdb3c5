#include "structseq/nn/rms_norm.h"

#include "structseq/core/error.h"

#include "rms_norm_row.h"

#include <cmath>
#include <string>
#include <string_view>
#include <vector>

namespace structseq {

namespace {

void check_operands(std::string_view where, const Tensor& x, const Tensor& weight, double eps) {
    check_argument(x.dtype() == DType::F32 || x.dtype() == DType::F64, where, "x dtype",
                   std::string(dtype_name(x.dtype())), "float32 or float64");
    check_argument(x.rank() == 2, where, "x", "shape " + shape_string(x.shape()), "(M, D)");
    check_argument(weight.dtype() == x.dtype(), where, "weight dtype",
                   std::string(dtype_name(weight.dtype())),
                   std::string(dtype_name(x.dtype())) + " (as x)");
    check_shape(where, "weight", weight, {x.dim(1)});
    check_argument(eps > 0 && std::isfinite(eps), where, "eps", std::to_string(eps),
                   "a finite number > 0");
}

}  // namespace

Tensor rms_norm_forward(const Tensor& x_in, const Tensor& w_in, double eps) {
    check_operands("rms_norm_forward", x_in, w_in, eps);
    const Tensor x = x_in.contiguous(), w = w_in.contiguous();
    const std::int64_t m = x.dim(0), d = x.dim(1);
    Tensor y = Tensor::empty({m, d}, x.dtype());
    const auto run = [&]<class Real>(Real) {
        const Real* px = x.data<Real>();
        const Real* pw = w.data<Real>();
        Real* py = y.data<Real>();
#pragma omp parallel for schedule(static) if (m * d > 65536)
        for (std::int64_t r = 0; r < m; ++r) {
            nn_detail::rms_norm_row(px + r * d, pw, py + r * d, d, eps);
        }
    };
    x.dtype() == DType::F32 ? run(0.0f) : run(0.0);
    return y;
}

Tensor rms_norm_backward(const Tensor& dy_in, const Tensor& x_in, const Tensor& w_in,
                         Tensor& dweight, double eps) {
    constexpr std::string_view where = "rms_norm_backward";
    check_operands(where, x_in, w_in, eps);
    check_shape(where, "dy", dy_in, x_in.shape());
    check_shape(where, "dweight", dweight, w_in.shape());
    check_argument(dy_in.dtype() == x_in.dtype() && dweight.dtype() == x_in.dtype(), where,
                   "dy/dweight dtype", std::string(dtype_name(dy_in.dtype())),
                   std::string(dtype_name(x_in.dtype())) + " (as x)");
    dweight.check_contiguous(where, "dweight");
    const Tensor x = x_in.contiguous(), w = w_in.contiguous(), dy = dy_in.contiguous();
    const std::int64_t m = x.dim(0), d = x.dim(1);
    Tensor dx = Tensor::empty({m, d}, x.dtype());
    const auto run = [&]<class Real>(Real) {
        const Real* px = x.data<Real>();
        const Real* pw = w.data<Real>();
        const Real* pdy = dy.data<Real>();
        Real* pdx = dx.data<Real>();
        std::vector<double> dw(static_cast<std::size_t>(d), 0.0);
        for (std::int64_t r = 0; r < m; ++r) {
            const Real* xr = px + r * d;
            const Real* gr = pdy + r * d;
            const double s = nn_detail::inverse_rms(xr, d, eps);
            double dot = 0;  // Σ dy ⊙ w ⊙ x
#pragma omp simd reduction(+ : dot)
            for (std::int64_t j = 0; j < d; ++j) dot += static_cast<double>(gr[j]) * pw[j] * xr[j];
            const double c = s * s * s * dot / static_cast<double>(d);
            for (std::int64_t j = 0; j < d; ++j) {
                pdx[r * d + j] = static_cast<Real>(s * gr[j] * pw[j] - c * xr[j]);
                dw[j] += static_cast<double>(gr[j]) * xr[j] * s;
            }
        }
        Real* pdw = dweight.data<Real>();
        for (std::int64_t j = 0; j < d; ++j) pdw[j] += static_cast<Real>(dw[j]);
    };
    x.dtype() == DType::F32 ? run(0.0f) : run(0.0);
    return dx;
}

}  // namespace structseq
