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
    const testing::ThreadCount threads(3);
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
            const Tensor* bias = c.bias ? &b : nullptr;
            const Tensor y = linear_forward(x, W, bias);
            const double tolerance = dtype == DType::F32 ? 1e-4 : 1e-11;
            EXPECT_LT(testing::largest_linear_error(x, W, bias, y), tolerance)
                << dtype_name(dtype) << " " << c.m << "×" << c.out << "×" << c.in;
        }
    }
}

}  // namespace
}  // namespace structseq
