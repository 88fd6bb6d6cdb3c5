#include "structseq/ssm/ssm_kernel.h"

#include "test_util.h"

#include <cmath>

namespace structseq {
namespace {

using testing::normal_tensor;
using testing::relative_error;
using testing::tensor_of;
using testing::values_of;

// K by the definition, one matrix-vector product per tap, in a plain loop.
std::vector<double> kernel_loop(const std::vector<double>& A, const std::vector<double>& B,
                                const std::vector<double>& C, double D, std::int64_t n,
                                std::int64_t L) {
    std::vector<double> K = {D}, v = B;
    for (std::int64_t l = 1; l < L; ++l) {
        double k = 0;
        for (std::int64_t i = 0; i < n; ++i) k += C[i] * v[i];
        K.push_back(k);
        std::vector<double> next(n, 0.0);
        for (std::int64_t i = 0; i < n; ++i) {
            for (std::int64_t j = 0; j < n; ++j) next[i] += A[i * n + j] * v[j];
        }
        v = next;
    }
    return K;
}

TEST(SsmKernel, SeedExamples) {
    const Tensor zero = tensor_of({0}, {1, 1});
    for (const char* method : {"recurrent", "doubling", "diagonal"}) {
        const std::vector<double> K =
            values_of(ssm_kernel(tensor_of({0.8}, {1}), tensor_of({1}, {1, 1}),
                                 tensor_of({1.5}, {1, 1}), zero, 5, method));
        const std::vector<double> expected = {0, 1.5, 1.2, 0.96, 0.768};
        for (int l = 0; l < 5; ++l) EXPECT_NEAR(K[l], expected[l], 1e-15) << method;
    }
    for (const char* method : {"recurrent", "doubling"}) {
        const std::vector<double> K =
            values_of(ssm_kernel(tensor_of({0.7, 0.1, 0.2, 0.6}, {2, 2}), tensor_of({1, 0}, {2, 1}),
                                 tensor_of({1, 0}, {1, 2}), zero, 4, method));
        const std::vector<double> expected = {0, 1, 0.7, 0.51};
        for (int l = 0; l < 4; ++l) EXPECT_NEAR(K[l], expected[l], 1e-15) << method;
    }
}

TEST(SsmKernel, RecurrentAndDoublingMatchTheLoop) {
    const std::int64_t n = 6;
    std::vector<double> A = values_of(normal_tensor({n, n}, 1, 0.3));
    const std::vector<double> B = values_of(normal_tensor({n}, 2)),
                              C = values_of(normal_tensor({n}, 3));
    for (const std::int64_t L : {1, 2, 3, 64, 257}) {
        const std::vector<double> expected = kernel_loop(A, B, C, 0.5, n, L);
        for (const char* method : {"recurrent", "doubling"}) {
            const std::vector<double> K =
                values_of(ssm_kernel(tensor_of(A, {n, n}), tensor_of(B, {n}), tensor_of(C, {n}),
                                     tensor_of({0.5}, {}), L, method));
            EXPECT_LT(relative_error(K, expected), 1e-12) << method << " L=" << L;
        }
    }
}

TEST(SsmKernel, DiagonalMatchesTheLoopAcrossBlocks) {
    const std::int64_t n = 5, L = 5000;  // several 2048-tap blocks
    const std::vector<double> lambda = {0.99, -0.5, 0.3, 0.999, -0.9};
    std::vector<double> A(n * n, 0.0);
    for (std::int64_t i = 0; i < n; ++i) A[i * n + i] = lambda[i];
    const std::vector<double> B = values_of(normal_tensor({n}, 4)),
                              C = values_of(normal_tensor({n}, 5));
    const std::vector<double> K =
        values_of(ssm_kernel(tensor_of(lambda, {n}), tensor_of(B, {n}), tensor_of(C, {n}),
                             tensor_of({0}, {}), L, "diagonal"));
    EXPECT_LT(relative_error(K, kernel_loop(A, B, C, 0, n, L)), 1e-11);
}

TEST(SsmKernel, DplrMatchesRecurrentOnTheDenseMatrix) {
    // Real Λ, P, Q: A = diag(Λ) − Pᵀ Q, kernel real.
    const std::int64_t n = 6;
    const std::vector<double> lambda = {0.5, -0.4, 0.3, 0.2, -0.6, 0.1};
    const std::vector<double> P = values_of(normal_tensor({n}, 6, 0.2));
    const std::vector<double> Q = values_of(normal_tensor({n}, 7, 0.2));
    std::vector<double> A(n * n);
    for (std::int64_t i = 0; i < n; ++i) {
        for (std::int64_t j = 0; j < n; ++j)
            A[i * n + j] = (i == j ? lambda[i] : 0.0) - P[i] * Q[j];
    }
    const std::vector<double> B = values_of(normal_tensor({n}, 8)),
                              C = values_of(normal_tensor({n}, 9));
    for (const std::int64_t L : {1, 5, 100}) {
        const Tensor K =
            ssm_kernel_dplr(tensor_of(lambda, {n}), tensor_of(P, {n}), tensor_of(Q, {n}),
                            tensor_of(B, {n}), tensor_of(C, {n}), tensor_of({0.2}, {}), L);
        EXPECT_EQ(K.dtype(), DType::F64);
        EXPECT_LT(relative_error(values_of(K), kernel_loop(A, B, C, 0.2, n, L)), 1e-11) << L;
    }
}

TEST(SsmKernel, RejectsBadArguments) {
    const Tensor A = tensor_of({0.5, 0, 0, 0.5}, {2, 2}), B = tensor_of({1, 1}, {2});
    const Tensor D = tensor_of({0}, {});
    EXPECT_ERROR_CONTAINS(ssm_kernel(A, B, B, D, 4, "fft"), "method");
    EXPECT_ERROR_CONTAINS(ssm_kernel(A, tensor_of({1, 1, 1}, {3}), B, D, 4), "B");
    EXPECT_ERROR_CONTAINS(ssm_kernel(A, B, B, tensor_of({1, 2}, {2}), 4), "D");
    EXPECT_ERROR_CONTAINS(ssm_kernel(tensor_of({1, 1, 1, 1}, {2, 2}), B, B, D, 4, "diagonal"),
                          "diagonal");
    EXPECT_ERROR_CONTAINS(ssm_kernel_dplr(B, tensor_of({1, 1, 1}, {3}), B, B, B, D, 4), "P");
}

}  // namespace
}  // namespace structseq
