#include "structseq/nn/bfloat16_matrix.h"

#include "structseq/core/float16.h"
#include "structseq/core/rng.h"
#include "structseq/core/threads.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <cmath>

namespace structseq {
namespace {

// The matrix holds every value rounded to nearest even, and to_float / round_to_bfloat16 give
// those values back as float32.
TEST(BFloat16Matrix, HoldsTheRoundedValues) {
    const Tensor W = Rng(1).normal({5, 9}, DType::F32);
    const BFloat16Matrix m(W);
    EXPECT_EQ(m.rows(), 5);
    EXPECT_EQ(m.cols(), 9);
    EXPECT_EQ(m.bytes(), 90);
    const Tensor back = m.to_float(), rounded = round_to_bfloat16(W);
    for (std::int64_t k = 0; k < W.numel(); ++k) {
        const float want = bfloat16_to_float(float_to_bfloat16(W.data<float>()[k]));
        EXPECT_EQ(back.data<float>()[k], want);
        EXPECT_EQ(rounded.data<float>()[k], want);
        EXPECT_LE(std::abs(want - W.data<float>()[k]), std::abs(W.data<float>()[k]) / 256);
    }
}

// y = x Wᵀ + b against a float64 loop over the rounded values: rows of x one by one, lengths
// that leave a single vector and a scalar tail, products on one thread and split over three.
TEST(BFloat16Matrix, ApplyMatchesAPlainLoop) {
    const testing::ThreadCount threads(3);
    struct Case {
        std::int64_t m, rows, cols;
        bool bias;
    };
    for (const Case c : {Case{1, 37, 53, true}, Case{2, 301, 129, false}, Case{1, 700, 400, true},
                         Case{3, 64, 48, false}, Case{1, 3, 5, true}}) {
        const Tensor W = Rng(2).normal({c.rows, c.cols}, DType::F32);
        const Tensor x = Rng(3).normal({c.m, c.cols}, DType::F32);
        const Tensor b = Rng(4).normal({c.rows}, DType::F32);
        const BFloat16Matrix m(W);
        const Tensor y = m.apply(x, c.bias ? &b : nullptr);
        ASSERT_EQ(y.shape(), (Shape{c.m, c.rows}));
        EXPECT_LT(testing::largest_linear_error(x, round_to_bfloat16(W), c.bias ? &b : nullptr, y),
                  1e-4)
            << c.m << "×" << c.rows << "×" << c.cols;
    }
}

// Matrices packed into one buffer (odd sizes, so later ones start at padded offsets) hold the
// same values and give the same products as matrices built one by one.
TEST(BFloat16Matrix, PackedMatricesActLikeSeparateOnes) {
    const std::vector<Tensor> matrices = {Rng(1).normal({3, 7}, DType::F32),
                                          Rng(2).normal({33, 65}, DType::F32),
                                          Rng(3).normal({1, 1}, DType::F32)};
    std::vector<BFloat16Matrix> packed;
    for (const Tensor& W : matrices) packed.emplace_back(W);
    BFloat16Matrix::pack({&packed[0], &packed[1], &packed[2]});
    for (std::size_t i = 0; i < matrices.size(); ++i) {
        const BFloat16Matrix alone(matrices[i]);
        EXPECT_EQ(packed[i].rows(), alone.rows());
        EXPECT_EQ(packed[i].cols(), alone.cols());
        EXPECT_EQ(testing::values_of(packed[i].to_float()), testing::values_of(alone.to_float()));
        const Tensor x = Rng(10 + i).normal({2, alone.cols()}, DType::F32);
        EXPECT_EQ(testing::values_of(packed[i].apply(x)), testing::values_of(alone.apply(x)));
    }
}

TEST(BFloat16Matrix, BadInputIsNamed) {
    EXPECT_ERROR_CONTAINS(BFloat16Matrix(Rng(1).normal({2, 3}, DType::F64)), "W dtype");
    EXPECT_ERROR_CONTAINS(BFloat16Matrix(Rng(1).normal({6}, DType::F32)), "(rows, cols)");
    const BFloat16Matrix m(Rng(1).normal({2, 3}, DType::F32));
    EXPECT_ERROR_CONTAINS(m.apply(Rng(2).normal({1, 4}, DType::F32)), "x");
    const Tensor b = Rng(3).normal({3}, DType::F32);
    EXPECT_ERROR_CONTAINS(m.apply(Rng(2).normal({1, 3}, DType::F32), &b), "b");
    EXPECT_ERROR_CONTAINS(BFloat16Matrix().apply(Rng(2).normal({1, 3}, DType::F32)), "empty");
}

}  // namespace
}  // namespace structseq
