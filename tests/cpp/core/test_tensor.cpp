#include "structseq/core/tensor.h"

#include "test_util.h"

#include <cstdint>

namespace structseq {
namespace {

Tensor iota(const Shape& shape) {
    Tensor t(shape, DType::F64);
    double* p = t.data<double>();
    for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<double>(i);
    return t;
}

TEST(Tensor, AllocatesZeroedAlignedStorage) {
    for (DType dtype : {DType::F32, DType::F64, DType::C128, DType::I8}) {
        Tensor t({3, 5, 7}, dtype);
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.raw_data()) % kTensorAlignment, 0u);
        EXPECT_EQ(t.numel(), 105);
        EXPECT_EQ(t.nbytes(), 105 * dtype_size(dtype));
        EXPECT_TRUE(t.is_contiguous());
        const auto* bytes = static_cast<const unsigned char*>(t.raw_data());
        for (std::size_t i = 0; i < t.nbytes(); ++i) ASSERT_EQ(bytes[i], 0);
    }
}

TEST(Tensor, LargeAllocationsAreZeroedAndAligned) {
    Tensor t({3 << 20}, DType::F32);  // 12 MiB: takes the huge-page path
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.raw_data()) % kTensorAlignment, 0u);
    const float* p = t.data<float>();
    for (std::int64_t i = 0; i < t.numel(); i += 4093) ASSERT_EQ(p[i], 0.0f);
    EXPECT_EQ(p[t.numel() - 1], 0.0f);
}

TEST(Tensor, EmptyIsContiguousWithTheRequestedShape) {
    const Tensor t = Tensor::empty({4, 0, 3}, DType::C64);
    EXPECT_TRUE(t.defined());
    EXPECT_TRUE(t.is_contiguous());
    EXPECT_EQ(t.numel(), 0);
    EXPECT_EQ(Tensor::empty({5, 7}, DType::F64).strides(), (Shape{7, 1}));
}

TEST(Tensor, EmptyAndScalarShapes) {
    Tensor empty({0, 4}, DType::F32);
    EXPECT_EQ(empty.numel(), 0);
    EXPECT_TRUE(empty.defined());
    Tensor scalar(Shape{}, DType::F64);
    EXPECT_EQ(scalar.numel(), 1);
    EXPECT_EQ(scalar.rank(), 0);
}

TEST(Tensor, ViewsShareStorageAndIndexCorrectly) {
    const Tensor t = iota({4, 5, 6});
    const Tensor n = t.narrow(1, 1, 3);
    EXPECT_TRUE(n.shares_storage_with(t));
    EXPECT_FALSE(n.is_contiguous());
    EXPECT_EQ(n.shape(), (Shape{4, 3, 6}));
    const Tensor s = t.select(2, 4);
    EXPECT_EQ(s.shape(), (Shape{4, 5}));
    const Tensor tr = t.transpose(0, 2);
    EXPECT_EQ(tr.shape(), (Shape{6, 5, 4}));
    for (std::int64_t i = 0; i < 4; ++i) {
        for (std::int64_t j = 0; j < 3; ++j) {
            for (std::int64_t k = 0; k < 6; ++k) {
                const double want = static_cast<double>(i * 30 + (j + 1) * 6 + k);
                ASSERT_EQ(n.at<double>({i, j, k}), want);
                ASSERT_EQ(tr.at<double>({k, j + 1, i}), want);
            }
        }
    }
    EXPECT_EQ(s.at<double>({2, 3}), 2 * 30 + 3 * 6 + 4);
    // Writing through a view writes the original.
    n.at<double>({0, 0, 0}) = -1;
    EXPECT_EQ(t.at<double>({0, 1, 0}), -1);
}

TEST(Tensor, LeadingNarrowStaysContiguous) {
    const Tensor t = iota({6, 4});
    const Tensor rows = t.narrow(0, 2, 3);
    EXPECT_TRUE(rows.is_contiguous());
    EXPECT_EQ(rows.data<double>()[0], 8);
    EXPECT_EQ(rows.reshape({-1}).shape(), (Shape{12}));
}

TEST(Tensor, CloneAndContiguousCopyStridedViewsInRowMajorOrder) {
    const Tensor t = iota({3, 4});
    const Tensor tr = t.transpose(0, 1);
    const Tensor c = tr.contiguous();
    EXPECT_FALSE(c.shares_storage_with(t));
    EXPECT_TRUE(c.is_contiguous());
    for (std::int64_t i = 0; i < 4; ++i) {
        for (std::int64_t j = 0; j < 3; ++j) EXPECT_EQ(c.data<double>()[i * 3 + j], j * 4 + i);
    }
    EXPECT_TRUE(t.contiguous().shares_storage_with(t));  // no hidden copy
}

TEST(Tensor, ConvertsDtypes) {
    const Tensor t = iota({2, 3}).transpose(0, 1);
    const Tensor f = t.to(DType::F32);
    EXPECT_EQ(f.dtype(), DType::F32);
    EXPECT_EQ(f.data<float>()[1], 3.0f);
    const Tensor z = t.to(DType::C128);
    EXPECT_EQ(z.data<std::complex<double>>()[5], std::complex<double>(5.0, 0.0));
    EXPECT_ERROR_CONTAINS(z.to(DType::F64), "imaginary part");
}

TEST(Tensor, ReshapeInfersOneDimension) {
    const Tensor t = iota({2, 3, 4});
    EXPECT_EQ(t.reshape({4, -1}).shape(), (Shape{4, 6}));
    EXPECT_ERROR_CONTAINS(t.reshape({5, -1}), "cannot infer");
    EXPECT_ERROR_CONTAINS(t.reshape({5, 5}), "has 25 elements, expected 24");
    EXPECT_ERROR_CONTAINS(t.transpose(0, 1).reshape({24}), "not contiguous");
}

TEST(Tensor, BadAccessIsAnErrorNamingTheProblem) {
    const Tensor t = iota({2, 3});
    EXPECT_ERROR_CONTAINS(t.data<float>(), "tensor has dtype float64, expected float32");
    EXPECT_ERROR_CONTAINS(t.narrow(1, 2, 2), "range [2, 4) out of bounds for axis 1 of extent 3");
    EXPECT_ERROR_CONTAINS(t.select(0, 2), "index 2 out of range");
    EXPECT_ERROR_CONTAINS(t.dim(2), "axis is 2, expected in [-2, 2)");
    EXPECT_ERROR_CONTAINS(t.at<double>({0, 3}), "out of range");
    EXPECT_ERROR_CONTAINS(Tensor({-1}, DType::F32), "negative extent");
    EXPECT_ERROR_CONTAINS(Tensor().raw_data(), "undefined");
    EXPECT_EQ(t.dim(-1), 3);
}

TEST(Tensor, CheckShapeNamesArgumentShapeAndExpectation) {
    const Tensor delta({2, 8, 16}, DType::F32);
    check_shape("selective_scan", "delta", delta, {2, 8, 16});
    check_shape("selective_scan", "delta", delta, {-1, 8, -1});
    EXPECT_ERROR_CONTAINS(check_shape("selective_scan", "delta", delta, {2, 8, 64}),
                          "selective_scan: delta has shape (2, 8, 16), expected (2, 8, 64)");
    EXPECT_ERROR_CONTAINS(check_shape("f", "x", delta, {-1, 8}), "expected (*, 8)");
    EXPECT_ERROR_CONTAINS(delta.transpose(0, 1).check_contiguous("f", "x"),
                          "f: x of shape (8, 2, 16) is a strided view");
}

TEST(Tensor, BorrowedStorageKeepsOwnerAlive) {
    auto owner = std::make_shared<std::vector<float>>(6, 2.5f);
    std::weak_ptr<std::vector<float>> watch = owner;
    Tensor t = Tensor::borrow(owner->data(), {2, 3}, DType::F32, owner);
    owner.reset();
    EXPECT_FALSE(watch.expired());
    EXPECT_EQ(t.at<float>({1, 2}), 2.5f);
    t = Tensor();
    EXPECT_TRUE(watch.expired());
}

TEST(DType, NamesRoundTrip) {
    for (DType d : {DType::F32, DType::F64, DType::C64, DType::C128, DType::I8, DType::U8,
                    DType::I32, DType::I64}) {
        EXPECT_EQ(dtype_from_name(dtype_name(d)), d);
    }
    EXPECT_ERROR_CONTAINS(dtype_from_name("float16"), "unknown dtype 'float16'");
}

}  // namespace
}  // namespace structseq
