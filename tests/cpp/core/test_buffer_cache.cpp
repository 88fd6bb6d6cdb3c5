#include "structseq/core/memory_stats.h"
#include "structseq/core/tensor.h"

#include <gtest/gtest.h>

namespace structseq {
namespace {

// A freed large buffer is kept and handed to the next tensor of its size, zeroed when the
// tensor asks for zeros; small ones are not kept; release empties the cache.
TEST(BufferCache, ReusesLargeBuffersOfTheSameSize) {
    release_cached_tensor_memory();
    const std::int64_t n = 3 << 20;  // 12 MiB of float32
    const void* first = nullptr;
    {
        Tensor t = Tensor::empty({n}, DType::F32);
        first = t.raw_data();
        for (std::int64_t k = 0; k < n; k += 4096) t.data<float>()[k] = 7.0f;
    }
    EXPECT_EQ(tensor_bytes_cached(), n * 4);
    const Tensor again({n}, DType::F32);
    EXPECT_EQ(again.raw_data(), first);
    EXPECT_EQ(tensor_bytes_cached(), 0);
    for (std::int64_t k = 0; k < n; k += 4096) ASSERT_EQ(again.data<float>()[k], 0.0f) << k;
    { const Tensor small = Tensor::empty({1000}, DType::F32); }
    EXPECT_EQ(tensor_bytes_cached(), 0);
    { const Tensor other = Tensor::empty({n + 1000000}, DType::F32); }
    EXPECT_GT(tensor_bytes_cached(), 0);
    release_cached_tensor_memory();
    EXPECT_EQ(tensor_bytes_cached(), 0);
}

}  // namespace
}  // namespace structseq
