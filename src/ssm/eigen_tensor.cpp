#include "ssm/eigen_tensor.h"

#include "structseq/core/error.h"

#include <cmath>

namespace structseq::ssm_detail {

namespace {

std::pair<Eigen::Index, Eigen::Index> matrix_dims(const Tensor& t, std::string_view where,
                                                  std::string_view argument) {
    check_argument(t.rank() <= 2, where, argument, "shape " + shape_string(t.shape()),
                   "a scalar, a vector or a matrix");
    if (t.rank() == 0) return {1, 1};
    if (t.rank() == 1) return {t.dim(0), 1};
    return {t.dim(0), t.dim(1)};
}

}  // namespace

void check_numeric(const Tensor& t, std::string_view where, std::string_view argument) {
    check_argument(t.defined(), where, argument, "missing", "an array");
    const DType d = t.dtype();
    check_argument(d == DType::F32 || d == DType::F64 || d == DType::C64 || d == DType::C128, where,
                   argument, "dtype " + std::string(dtype_name(d)),
                   "float32, float64, complex64 or complex128");
    // Σ x · 0 is 0 unless some x is inf or NaN; the culprit is searched for only then.
    const Tensor c = t.contiguous();
    const std::int64_t count = c.numel() * (is_complex(d) ? 2 : 1);
    const auto probe = [&](const auto* x) {
        double sum = 0;
#pragma omp simd reduction(+ : sum)
        for (std::int64_t i = 0; i < count; ++i) sum += static_cast<double>(x[i]) * 0.0;
        return sum;
    };
    const bool single = d == DType::F32 || d == DType::C64;
    const double sum = single ? probe(static_cast<const float*>(c.raw_data()))
                              : probe(static_cast<const double*>(c.raw_data()));
    if (sum == 0.0) return;
    const Tensor wide = c.to(DType::C128);
    const auto* x = wide.data<std::complex<double>>();
    for (std::int64_t i = 0; i < wide.numel(); ++i) {
        if (!std::isfinite(x[i].real()) || !std::isfinite(x[i].imag())) {
            fail("{}: {} holds {} at flat index {}; expected finite values", where, argument,
                 complex_string(x[i]), i);
        }
    }
}

RowMatrix real_matrix(const Tensor& t, std::string_view where, std::string_view argument) {
    check_numeric(t, where, argument);
    check_argument(!is_complex(t.dtype()), where, argument,
                   "dtype " + std::string(dtype_name(t.dtype())), "a real array");
    const auto [rows, cols] = matrix_dims(t, where, argument);
    const Tensor d = t.contiguous().to(DType::F64);
    return Eigen::Map<const RowMatrix>(d.data<double>(), rows, cols);
}

RowMatrixC complex_matrix(const Tensor& t, std::string_view where, std::string_view argument) {
    check_numeric(t, where, argument);
    const auto [rows, cols] = matrix_dims(t, where, argument);
    const Tensor d = t.contiguous().to(DType::C128);
    return Eigen::Map<const RowMatrixC>(d.data<std::complex<double>>(), rows, cols);
}

Tensor tensor_from(const RowMatrix& m, const Shape& shape, DType dtype) {
    Tensor out(shape, DType::F64);
    std::copy(m.data(), m.data() + m.size(), out.data<double>());
    return out.to(dtype);
}

Tensor tensor_from(const RowMatrixC& m, const Shape& shape, DType dtype) {
    Tensor out(shape, DType::C128);
    std::copy(m.data(), m.data() + m.size(), out.data<std::complex<double>>());
    return out.to(dtype);
}

DType result_dtype(std::initializer_list<const Tensor*> inputs, bool complex) {
    bool single = true;
    for (const Tensor* t : inputs) {
        if (t != nullptr && t->defined()) {
            single &= t->dtype() == DType::F32 || t->dtype() == DType::C64;
        }
    }
    if (complex) return single ? DType::C64 : DType::C128;
    return single ? DType::F32 : DType::F64;
}

}  // namespace structseq::ssm_detail
