#include "structseq/ssm/linear_scan.h"

#include "structseq/core/threads.h"
#include "test_util.h"

#include <cstring>

namespace structseq {
namespace {

using testing::normal_tensor;
using testing::relative_error;
using testing::tensor_of;
using testing::values_of;

std::vector<double> scan_loop(const std::vector<double>& a, const std::vector<double>& b,
                              std::int64_t batch, std::int64_t L, std::int64_t D) {
    std::vector<double> h(a.size());
    for (std::int64_t r = 0; r < batch; ++r) {
        for (std::int64_t d = 0; d < D; ++d) {
            double state = 0;
            for (std::int64_t t = 0; t < L; ++t) {
                const std::int64_t i = (r * L + t) * D + d;
                state = a[i] * state + b[i];
                h[i] = state;
            }
        }
    }
    return h;
}

Tensor contracting(Shape shape, std::uint64_t seed) {
    std::vector<double> a = values_of(normal_tensor(shape, seed));
    for (double& x : a) x = std::tanh(x);
    return tensor_of(a, shape);
}

TEST(LinearScan, SequentialAndParallelMatchTheLoopOnAnyThreadCount) {
    for (const std::int64_t L : {1, 2, 2047, 9000}) {
        const Tensor a = contracting({2, L, 3}, 1), b = normal_tensor({2, L, 3}, 2);
        const std::vector<double> expected = scan_loop(values_of(a), values_of(b), 2, L, 3);
        for (const int threads : {1, 2, 3, 4}) {
            const testing::ThreadCount scope(threads);
            for (const char* method : {"sequential", "parallel"}) {
                EXPECT_LT(relative_error(values_of(linear_scan(a, b, Tensor(), method)), expected),
                          1e-13)
                    << method << " L=" << L << " threads=" << threads;
            }
        }
    }
}

TEST(LinearScan, SameThreadsSameBits) {
    const Tensor a = contracting({1, 50000, 4}, 3).to(DType::F32);
    const Tensor b = normal_tensor({1, 50000, 4}, 4).to(DType::F32);
    const Tensor first = linear_scan(a, b, Tensor(), "parallel");
    const Tensor second = linear_scan(a, b, Tensor(), "parallel");
    EXPECT_EQ(std::memcmp(first.raw_data(), second.raw_data(), first.nbytes()), 0);
}

TEST(LinearScan, BackwardIsTheAdjointOfTheLinearMapInB) {
    // h is linear in b (a fixed): ⟨dh, h(b)⟩ = ⟨db, b⟩.
    const Tensor a = contracting({2, 300, 3}, 5), b = normal_tensor({2, 300, 3}, 6);
    const Tensor dh = normal_tensor({2, 300, 3}, 7);
    const std::vector<double> h = values_of(linear_scan(a, b)), g = values_of(dh);
    double expected = 0;
    for (std::size_t i = 0; i < h.size(); ++i) expected += h[i] * g[i];
    for (const char* method : {"sequential", "parallel"}) {
        const LinearScanGradients grads = linear_scan_backward(dh, a, b, Tensor(), method);
        const std::vector<double> db = values_of(grads.db), x = values_of(b);
        double got = 0;
        for (std::size_t i = 0; i < x.size(); ++i) got += db[i] * x[i];
        EXPECT_NEAR(got, expected, 1e-11 * std::abs(expected)) << method;
        EXPECT_FALSE(grads.dh0.defined());
    }
}

TEST(LinearScan, RejectsBadArguments) {
    const Tensor a = normal_tensor({1, 4, 2}, 1);
    EXPECT_ERROR_CONTAINS(linear_scan(a, normal_tensor({1, 4, 3}, 2)), "b");
    EXPECT_ERROR_CONTAINS(linear_scan(a, a, normal_tensor({2}, 3)), "h0");
    EXPECT_ERROR_CONTAINS(linear_scan(a, a, Tensor(), "tree"), "method");
    EXPECT_ERROR_CONTAINS(linear_scan_backward(normal_tensor({1, 3, 2}, 1), a, a), "dh");
}

}  // namespace
}  // namespace structseq
