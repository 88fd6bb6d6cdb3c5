#pragma once
// Helpers of the ssm tests: tensors from plain vectors and back, a stable random system.

#include "structseq/core/rng.h"
#include "structseq/core/tensor.h"

#include <cmath>
#include <vector>

namespace structseq::testing {

inline Tensor tensor_of(const std::vector<double>& values, Shape shape) {
    Tensor t(std::move(shape), DType::F64);
    std::copy(values.begin(), values.end(), t.data<double>());
    return t;
}

inline std::vector<double> values_of(const Tensor& t) {
    const Tensor d = t.contiguous().to(DType::F64);
    return {d.data<double>(), d.data<double>() + d.numel()};
}

inline Tensor normal_tensor(Shape shape, std::uint64_t seed, double scale = 1.0) {
    Tensor t(std::move(shape), DType::F64);
    Rng(seed).normal(t, 0.0, scale);
    return t;
}

// ‖x − y‖ / ‖y‖
inline double relative_error(const std::vector<double>& x, const std::vector<double>& y) {
    double num = 0, den = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        num += (x[i] - y[i]) * (x[i] - y[i]);
        den += y[i] * y[i];
    }
    return std::sqrt(num / std::max(den, 1e-300));
}

}  // namespace structseq::testing
