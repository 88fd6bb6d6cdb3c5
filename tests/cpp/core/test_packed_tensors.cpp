#include "structseq/core/packed_tensors.h"

#include "structseq/core/rng.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace structseq {
namespace {

// Tensors of two dtypes and odd sizes, one a strided view, one undefined: afterwards each is a
// contiguous tensor of the same shape and values, starting on a 64-byte boundary, the float32
// ones inside one buffer; a handle that shared the old storage keeps its values.
TEST(PackTensors, KeepsShapesAndValuesInOneBufferPerDtype) {
    Tensor a = Rng(1).normal({3, 5}, DType::F32);
    Tensor b = Rng(2).normal({7}, DType::F64);
    Tensor c = Rng(3).normal({4, 6}, DType::F32).transpose(0, 1);  // (6, 4), strided
    Tensor d = Rng(4).normal({1}, DType::F32);
    Tensor undefined;
    const Tensor a_before = a, c_values = c.contiguous(), b_values = b.clone();
    const std::vector<double> a_old = testing::values_of(a), c_old = testing::values_of(c),
                              d_old = testing::values_of(d);
    pack_tensors({&a, &b, &c, &d, &undefined});
    EXPECT_FALSE(undefined.defined());
    EXPECT_EQ(a.shape(), (Shape{3, 5}));
    EXPECT_EQ(c.shape(), (Shape{6, 4}));
    EXPECT_TRUE(c.is_contiguous());
    EXPECT_EQ(testing::values_of(a), a_old);
    EXPECT_EQ(testing::values_of(c), c_old);
    EXPECT_EQ(testing::values_of(d), d_old);
    EXPECT_EQ(testing::values_of(b), testing::values_of(b_values));
    for (const Tensor* t : {&a, &b, &c, &d}) {
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t->raw_data()) % 64, 0u);
    }
    // a, c and d in one float32 buffer, in order, each padded to 16 values.
    const auto* base = static_cast<const float*>(a.raw_data());
    EXPECT_EQ(static_cast<const float*>(c.raw_data()), base + 16);
    EXPECT_EQ(static_cast<const float*>(d.raw_data()), base + 16 + 32);
    EXPECT_NE(a.raw_data(), a_before.raw_data());
    EXPECT_EQ(testing::values_of(a_before), a_old);
}

}  // namespace
}  // namespace structseq
