#include "structseq/core/rng.h"

#include "structseq/core/threads.h"
#include "test_util.h"

#include <cmath>
#include <cstring>

namespace structseq {
namespace {

// Known-answer vectors of Random123's kat_vectors file (counter, key → output).
TEST(Philox, MatchesRandom123KnownAnswers) {
    EXPECT_EQ(philox4x32({0, 0, 0, 0}, {0, 0}),
              (std::array<std::uint32_t, 4>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
    EXPECT_EQ(
        philox4x32({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
        (std::array<std::uint32_t, 4>{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
    EXPECT_EQ(
        philox4x32({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
        (std::array<std::uint32_t, 4>{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

bool same_bits(const Tensor& a, const Tensor& b) {
    return a.nbytes() == b.nbytes() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

class ThreadCount {
public:
    explicit ThreadCount(int n) : saved_(num_threads()) { set_num_threads(n); }
    ~ThreadCount() { set_num_threads(saved_); }

private:
    int saved_;
};

TEST(Rng, SameBitsWhateverTheThreadCount) {
    for (DType dtype : {DType::F32, DType::F64}) {
        Tensor one;
        Tensor many;
        {
            ThreadCount threads(1);
            one = Rng(42).normal({100003}, dtype);
        }
        {
            ThreadCount threads(3);  // more threads than cores is legal and must not change bits
            many = Rng(42).normal({100003}, dtype);
        }
        EXPECT_TRUE(same_bits(one, many));
    }
}

// Split points that are not multiples of the values per Philox block (2 or 4) straddle blocks.
TEST(Rng, ConsecutiveDrawsEqualOneLargeDraw) {
    for (DType dtype : {DType::F32, DType::F64}) {
        for (bool normal : {true, false}) {
            auto draw = [&](Rng& rng, std::int64_t n) {
                return normal ? rng.normal({n}, dtype) : rng.uniform({n}, dtype);
            };
            Rng whole(7, 3);
            const Tensor all = draw(whole, 1000);
            Rng parts(7, 3);
            const Tensor first = draw(parts, 401);
            const Tensor middle = draw(parts, 2);
            const Tensor last = draw(parts, 597);
            EXPECT_EQ(parts.offset(), 1000u);
            const auto* bytes = static_cast<const char*>(all.raw_data());
            const std::size_t size = dtype_size(dtype);
            EXPECT_EQ(std::memcmp(bytes, first.raw_data(), first.nbytes()), 0);
            EXPECT_EQ(std::memcmp(bytes + 401 * size, middle.raw_data(), middle.nbytes()), 0);
            EXPECT_EQ(std::memcmp(bytes + 403 * size, last.raw_data(), last.nbytes()), 0);
        }
    }
}

// Float32 draws are the float64 draws rounded, so a float32 kernel and its float64 reference can
// be fed the same random inputs.
TEST(Rng, Float32DrawsAreRoundedFloat64Draws) {
    const Tensor single = Rng(8).normal({1001}, DType::F32);
    const Tensor wide = Rng(8).normal({1001}, DType::F64);
    for (std::int64_t i = 0; i < 1001; ++i) {
        ASSERT_EQ(single.data<float>()[i], static_cast<float>(wide.data<double>()[i])) << i;
    }
}

TEST(Rng, SeedsAndStreamsDiffer) {
    const Tensor a = Rng(1).normal({64}, DType::F32);
    const Tensor b = Rng(2).normal({64}, DType::F32);
    const Tensor c = Rng(1, 1).normal({64}, DType::F32);
    EXPECT_FALSE(same_bits(a, b));
    EXPECT_FALSE(same_bits(a, c));
}

// Moments of 10^6 draws; the tolerances are 6 standard errors, and the seed is fixed, so the
// test is deterministic: it fails only if the generator or the transform is wrong.
TEST(Rng, NormalMomentsMatch) {
    const std::int64_t n = 1'000'000;
    const Tensor x = Rng(123).normal({n}, DType::F64, 2.0, 3.0);
    double sum = 0, sq = 0, fourth = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        const double z = (x.data<double>()[i] - 2.0) / 3.0;
        sum += z;
        sq += z * z;
        fourth += z * z * z * z;
    }
    const double dn = static_cast<double>(n);
    EXPECT_NEAR(sum / dn, 0.0, 6.0 / std::sqrt(dn));
    EXPECT_NEAR(sq / dn, 1.0, 6.0 * std::sqrt(2.0 / dn));
    EXPECT_NEAR(fourth / dn, 3.0, 6.0 * std::sqrt(96.0 / dn));
}

TEST(Rng, UniformStaysInRangeWithRightMean) {
    for (DType dtype : {DType::F32, DType::F64}) {
        const std::int64_t n = 200'000;
        const Tensor x = Rng(5).uniform({n}, dtype, -1.0, 3.0);
        const Tensor d = x.to(DType::F64);
        double sum = 0;
        for (std::int64_t i = 0; i < n; ++i) {
            const double v = d.data<double>()[i];
            ASSERT_GE(v, -1.0);
            ASSERT_LT(v, 3.0);
            sum += v;
        }
        // Var of U(-1, 3) is 16/12; 6 standard errors.
        EXPECT_NEAR(sum / static_cast<double>(n), 1.0,
                    6.0 * std::sqrt(16.0 / 12.0 / static_cast<double>(n)));
    }
}

TEST(Rng, BadArgumentsAreErrors) {
    Rng rng(0);
    Tensor ints({4}, DType::I32);
    EXPECT_ERROR_CONTAINS(rng.normal(ints),
                          "Rng::normal: out is int32, expected a float32 or float64 tensor");
    Tensor x({4}, DType::F32);
    EXPECT_ERROR_CONTAINS(rng.normal(x, 0.0, -1.0), "stddev is -1");
    EXPECT_ERROR_CONTAINS(rng.uniform(x, 1.0, 1.0), "low < high");
    Tensor wide({4, 4}, DType::F32);
    Tensor strided = wide.transpose(0, 1);
    EXPECT_ERROR_CONTAINS(rng.normal(strided), "strided view");
}

// permutation(n) is Fisher–Yates over the stream's next n − 1 uniforms, written out here with
// single uniform() draws; every id appears once; the stream and the seed change it.
TEST(Rng, PermutationIsFisherYatesOverTheUniforms) {
    const std::int64_t n = 1000;
    const std::vector<std::int64_t> order = Rng(5, 9).permutation(n);
    Rng reference(5, 9);
    std::vector<std::int64_t> expected(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) expected[static_cast<std::size_t>(i)] = i;
    for (std::int64_t i = n - 1; i > 0; --i) {
        const auto j = std::min(
            i, static_cast<std::int64_t>(reference.uniform() * static_cast<double>(i + 1)));
        std::swap(expected[static_cast<std::size_t>(i)], expected[static_cast<std::size_t>(j)]);
    }
    EXPECT_EQ(order, expected);
    std::vector<std::int64_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    for (std::int64_t i = 0; i < n; ++i) EXPECT_EQ(sorted[static_cast<std::size_t>(i)], i);
    EXPECT_NE(order, Rng(5, 10).permutation(n));
    EXPECT_NE(order, Rng(6, 9).permutation(n));
    EXPECT_EQ(Rng(1).permutation(1), std::vector<std::int64_t>{0});
    EXPECT_TRUE(Rng(1).permutation(0).empty());
}

}  // namespace
}  // namespace structseq
