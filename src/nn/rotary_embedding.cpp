#include "structseq/nn/rotary_embedding.h"

#include "structseq/core/error.h"

#include <cmath>
#include <string>

namespace structseq {

void apply_rotary(Tensor& x, std::int64_t first_position, bool inverse, double base) {
    constexpr std::string_view where = "apply_rotary";
    check_argument(x.rank() == 4 && x.is_contiguous() && x.dim(3) % 2 == 0, where, "x",
                   "shape " + shape_string(x.shape()),
                   "contiguous (batch, heads, L, d) with an even head size d");
    check_argument(x.dtype() == DType::F32 || x.dtype() == DType::F64, where, "x dtype",
                   std::string(dtype_name(x.dtype())), "float32 or float64");
    check_argument(first_position >= 0, where, "first_position", std::to_string(first_position),
                   ">= 0");
    const std::int64_t rows = x.dim(0) * x.dim(1), length = x.dim(2), half = x.dim(3) / 2;
    // cos and sin of p θ_i for every (position, pair), in float64.
    std::vector<double> cosine(static_cast<std::size_t>(length * half)), sine(cosine.size());
    for (std::int64_t t = 0; t < length; ++t) {
        for (std::int64_t i = 0; i < half; ++i) {
            const double angle = static_cast<double>(first_position + t) *
                                 std::pow(base, -2.0 * static_cast<double>(i) / (2.0 * half));
            cosine[t * half + i] = std::cos(angle);
            sine[t * half + i] = inverse ? -std::sin(angle) : std::sin(angle);
        }
    }
    const auto run = [&]<class Real>(Real) {
        Real* p = x.data<Real>();
        for (std::int64_t r = 0; r < rows; ++r) {
            for (std::int64_t t = 0; t < length; ++t) {
                Real* row = p + (r * length + t) * 2 * half;
                for (std::int64_t i = 0; i < half; ++i) {
                    const double c = cosine[t * half + i], s = sine[t * half + i];
                    const double a = row[i], b = row[i + half];
                    row[i] = static_cast<Real>(a * c - b * s);
                    row[i + half] = static_cast<Real>(a * s + b * c);
                }
            }
        }
    };
    x.dtype() == DType::F32 ? run(0.0f) : run(0.0);
}

}  // namespace structseq
