#include "structseq/nn/linear.h"

#include "structseq/core/rng.h"
#include "structseq/core/threads.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <cmath>

namespace structseq {
namespace {

// y = x Wᵀ + b against a plain loop, for one row (the generation path: the streaming GEMV on one
// thread below 2^15 weights, W's rows split over three threads above; row lengths that leave a
// single vector and a scalar tail) and several rows (GEMM), both precisions.
TEST(LinearForward, MatchesAPlainLoop) {
    const int saved_threads = num_threads();
    set_num_threads(3);
    struct Case {
        std::int64_t m, out, in;
        bool bias;
    };
    for (const DType dtype : {DType::F32, DType::F64}) {
        for (const Case c :
             {Case{1, 37, 53, true}, Case{1, 700, 400, false}, Case{1, 5, 3, false},
              Case{1, 301, 129, true}, Case{1, 64, 48, false}, Case{3, 37, 53, true}}) {
            const Tensor x = Rng(1).normal({c.m, c.in}, dtype);
            const Tensor W = Rng(2).normal({c.out, c.in}, dtype);
            const Tensor b = Rng(3).normal({c.out}, dtype);
            const Tensor y = linear_forward(x, W, c.bias ? &b : nullptr);
            const Tensor x64 = x.to(DType::F64), W64 = W.to(DType::F64), b64 = b.to(DType::F64);
            const Tensor y64 = y.to(DType::F64);
            double worst = 0;
            for (std::int64_t r = 0; r < c.m; ++r) {
                for (std::int64_t o = 0; o < c.out; ++o) {
                    double expected = c.bias ? b64.data<double>()[o] : 0.0;
                    for (std::int64_t k = 0; k < c.in; ++k) {
                        expected +=
                            x64.data<double>()[r * c.in + k] * W64.data<double>()[o * c.in + k];
                    }
                    worst = std::max(worst, std::abs(y64.data<double>()[r * c.out + o] - expected));
                }
            }
            const double tolerance = dtype == DType::F32 ? 1e-4 : 1e-11;
            EXPECT_LT(worst, tolerance)
                << dtype_name(dtype) << " " << c.m << "×" << c.out << "×" << c.in;
        }
    }
    set_num_threads(saved_threads);
}

}  // namespace
}  // namespace structseq
