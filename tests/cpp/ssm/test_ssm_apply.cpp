#include "structseq/ssm/ssm_apply.h"

#include "structseq/ssm/discretize.h"
#include "test_util.h"

namespace structseq {
namespace {

using testing::normal_tensor;
using testing::relative_error;
using testing::tensor_of;
using testing::values_of;

// y by the state recursion, in a plain loop; one system (n = 2) for every channel.
std::vector<double> apply_loop(const std::vector<double>& A, const std::vector<double>& B,
                               const std::vector<double>& C, double D, const Tensor& u) {
    const std::int64_t batch = u.dim(0), L = u.dim(1), H = u.dim(2);
    const std::vector<double> x = values_of(u);
    std::vector<double> y(x.size());
    for (std::int64_t b = 0; b < batch; ++b) {
        for (std::int64_t h = 0; h < H; ++h) {
            double s0 = 0, s1 = 0;
            for (std::int64_t t = 0; t < L; ++t) {
                const double in = x[(b * L + t) * H + h];
                y[(b * L + t) * H + h] = C[0] * s0 + C[1] * s1 + D * in;
                const double n0 = A[0] * s0 + A[1] * s1 + B[0] * in;
                const double n1 = A[2] * s0 + A[3] * s1 + B[1] * in;
                s0 = n0;
                s1 = n1;
            }
        }
    }
    return y;
}

TEST(SsmApply, EveryMethodMatchesTheRecursion) {
    const std::vector<double> A = {0.6, 0.2, -0.3, 0.5}, B = {1.0, -0.5}, C = {0.7, 0.4};
    const Tensor u = normal_tensor({2, 37, 3}, 1);
    const std::vector<double> expected = apply_loop(A, B, C, 0.25, u);
    for (const char* method : {"recurrent", "conv_direct", "conv_fft"}) {
        const Tensor y = ssm_apply(tensor_of(A, {2, 2}), tensor_of(B, {2, 1}), tensor_of(C, {1, 2}),
                                   tensor_of({0.25}, {1, 1}), u, std::nullopt, method);
        EXPECT_LT(relative_error(values_of(y), expected), 1e-13) << method;
        const Tensor y32 =
            ssm_apply(tensor_of(A, {2, 2}), tensor_of(B, {2, 1}), tensor_of(C, {1, 2}),
                      tensor_of({0.25}, {1, 1}), u.to(DType::F32), std::nullopt, method);
        EXPECT_EQ(y32.dtype(), DType::F32);
        EXPECT_LT(relative_error(values_of(y32), expected), 1e-6) << method;
    }
}

TEST(SsmApply, ContinuousTimeIsDiscretizedByZoh) {
    const Tensor Ac = tensor_of({-1.0, 0.5, -0.5, -1.0}, {2, 2}),
                 Bc = tensor_of({1.0, 0.0}, {2, 1});
    const DiscreteSystem d = discretize(Ac, Bc, 0.1);
    const std::vector<double> C = {1.0, 2.0};
    const Tensor u = normal_tensor({1, 20, 2}, 2);
    const std::vector<double> expected = apply_loop(values_of(d.A), values_of(d.B), C, 0.0, u);
    const Tensor y = ssm_apply(Ac, Bc, tensor_of(C, {1, 2}), tensor_of({0.0}, {}), u, 0.1);
    EXPECT_LT(relative_error(values_of(y), expected), 1e-13);
}

TEST(SsmApply, RejectsBadArguments) {
    const Tensor A = tensor_of({0.5, 0, 0, 0.5}, {2, 2}), B = tensor_of({1, 1}, {2, 1});
    const Tensor C = tensor_of({1, 1}, {1, 2}), D = tensor_of({0}, {});
    EXPECT_ERROR_CONTAINS(ssm_apply(A, B, C, D, normal_tensor({4, 2}, 1)), "u");
    EXPECT_ERROR_CONTAINS(ssm_apply(A, B, C, D, normal_tensor({1, 4, 2}, 1), std::nullopt, "fast"),
                          "method");
    EXPECT_ERROR_CONTAINS(ssm_apply(A, B, C, D, normal_tensor({1, 4, 2}, 1), -1.0), "dt");
}

}  // namespace
}  // namespace structseq
