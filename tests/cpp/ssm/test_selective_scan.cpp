#include "structseq/ssm/selective_scan.h"

#include "test_util.h"

#include <cmath>
#include <utility>

namespace structseq {
namespace {

using testing::normal_tensor;
using testing::relative_error;
using testing::tensor_of;
using testing::values_of;

// One channel, N = 2, fixed B and C, zoh, in a plain loop: x_t = e^{Δ_t A} x_{t−1} + Δ_t B u_t.
TEST(SelectiveScan, MatchesTheRecursionForOneChannel) {
    const std::int64_t L = 7;
    const std::vector<double> u = values_of(normal_tensor({1, 1, L}, 1));
    std::vector<double> delta(L);
    for (std::int64_t t = 0; t < L; ++t) delta[t] = 0.1 + 0.05 * static_cast<double>(t);
    const std::vector<double> A = {-1.0, -0.3}, B = {0.5, 2.0}, C = {1.5, -0.7};
    std::vector<double> expected(L);
    double x0 = 0, x1 = 0;
    for (std::int64_t t = 0; t < L; ++t) {
        x0 = std::exp(delta[t] * A[0]) * x0 + delta[t] * B[0] * u[t];
        x1 = std::exp(delta[t] * A[1]) * x1 + delta[t] * B[1] * u[t];
        expected[t] = C[0] * x0 + C[1] * x1;
    }
    const SelectiveScanResult r = selective_scan(
        tensor_of(u, {1, 1, L}), tensor_of(delta, {1, 1, L}), tensor_of(A, {1, 2}),
        tensor_of(B, {1, 2}), tensor_of(C, {1, 2}), Tensor(), Tensor(), Tensor(), false, true);
    EXPECT_LT(relative_error(values_of(r.out), expected), 1e-14);
    EXPECT_NEAR(values_of(r.last_state)[0], x0, 1e-14);
    EXPECT_NEAR(values_of(r.last_state)[1], x1, 1e-14);
}

// Without z and D, out is linear in u and in C: ⟨dout, out⟩ = ⟨du, u⟩ = ⟨dC, C⟩.
TEST(SelectiveScan, BackwardIsTheAdjointInUAndC) {
    const std::int64_t batch = 2, dim = 3, L = 150, N = 4;  // L crosses the 64-step checkpoints
    const Tensor u = normal_tensor({batch, dim, L}, 2);
    std::vector<double> delta = values_of(normal_tensor({batch, dim, L}, 3));
    for (double& v : delta) v = 0.05 + 0.1 * std::abs(v);
    std::vector<double> A = values_of(normal_tensor({dim, N}, 4));
    for (double& v : A) v = -0.2 - std::abs(v);
    const Tensor B = normal_tensor({batch, N, L}, 5), C = normal_tensor({batch, 1, N, L}, 6);
    const Tensor dout = normal_tensor({batch, dim, L}, 7);
    const Tensor dt = tensor_of(delta, {batch, dim, L}), At = tensor_of(A, {dim, N});
    for (const char* method : {"zoh", "bilinear"}) {
        const std::vector<double> out = values_of(
            selective_scan(u, dt, At, B, C, Tensor(), Tensor(), Tensor(), false, false, method)
                .out);
        const SelectiveScanGradients g = selective_scan_backward(dout, u, dt, At, B, C, Tensor(),
                                                                 Tensor(), Tensor(), false, method);
        double expected = 0, via_u = 0, via_c = 0;
        const std::vector<double> go = values_of(dout), x = values_of(u), du = values_of(g.du);
        const std::vector<double> c = values_of(C), dc = values_of(g.dC);
        for (std::size_t i = 0; i < out.size(); ++i) expected += out[i] * go[i];
        for (std::size_t i = 0; i < x.size(); ++i) via_u += du[i] * x[i];
        for (std::size_t i = 0; i < c.size(); ++i) via_c += dc[i] * c[i];
        EXPECT_NEAR(via_u, expected, 1e-10 * std::abs(expected)) << method;
        EXPECT_NEAR(via_c, expected, 1e-10 * std::abs(expected)) << method;
        EXPECT_FALSE(g.dD.defined());
    }
}

// float32 with input-dependent B and C: the backward from the forward's checkpoints gives the
// recomputing backward's bits; float64 operands keep none and refuse them.
TEST(SelectiveScan, BackwardFromTheForwardsCheckpoints) {
    const std::int64_t batch = 2, dim = 19, L = 130, N = 16;
    const Tensor u = normal_tensor({batch, dim, L}, 2).to(DType::F32);
    const Tensor delta = normal_tensor({batch, dim, L}, 3).to(DType::F32);
    std::vector<double> a = values_of(normal_tensor({dim, N}, 4));
    for (double& v : a) v = -0.2 - std::abs(v);
    const Tensor A = tensor_of(a, {dim, N}).to(DType::F32);
    const Tensor B = normal_tensor({batch, N, L}, 5).to(DType::F32);
    const Tensor C = normal_tensor({batch, N, L}, 6).to(DType::F32);
    const Tensor D = normal_tensor({dim}, 7).to(DType::F32), z = normal_tensor({batch, dim, L}, 8);
    const Tensor z32 = z.to(DType::F32), dout = normal_tensor({batch, dim, L}, 9).to(DType::F32);
    const SelectiveScanResult r =
        selective_scan(u, delta, A, B, C, D, z32, Tensor(), true, false, "zoh", false, true);
    ASSERT_EQ(r.checkpoints.shape(), (Shape{batch, 3, N, dim}));
    const SelectiveScanGradients recomputed =
        selective_scan_backward(dout, u, delta, A, B, C, D, z32, Tensor(), true);
    const SelectiveScanGradients saved = selective_scan_backward(
        dout, u, delta, A, B, C, D, z32, Tensor(), true, "zoh", r.checkpoints);
    const std::pair<const Tensor*, const Tensor*> gradients[] = {
        {&recomputed.du, &saved.du}, {&recomputed.ddelta, &saved.ddelta},
        {&recomputed.dA, &saved.dA}, {&recomputed.dB, &saved.dB},
        {&recomputed.dC, &saved.dC}, {&recomputed.dD, &saved.dD},
        {&recomputed.dz, &saved.dz}};
    for (const auto& [without, with] : gradients) {
        EXPECT_EQ(values_of(*without), values_of(*with));
    }
    const Tensor u64 = u.to(DType::F64);
    EXPECT_FALSE(selective_scan(u64, delta.to(DType::F64), A.to(DType::F64), B.to(DType::F64),
                                C.to(DType::F64), Tensor(), Tensor(), Tensor(), false, false, "zoh",
                                false, true)
                     .checkpoints.defined());
    EXPECT_ERROR_CONTAINS(
        selective_scan_backward(dout.to(DType::F64), u64, delta.to(DType::F64), A.to(DType::F64),
                                B.to(DType::F64), C.to(DType::F64), Tensor(), Tensor(), Tensor(),
                                false, "zoh", r.checkpoints),
        "checkpoints");
}

TEST(SelectiveScan, RejectsBadShapes) {
    const Tensor u = normal_tensor({1, 2, 5}, 1), A = normal_tensor({2, 3}, 2);
    const Tensor B = normal_tensor({2, 3}, 3);
    EXPECT_ERROR_CONTAINS(selective_scan(u, u, A, normal_tensor({2, 4}, 4), B), "B");
    EXPECT_ERROR_CONTAINS(selective_scan(u, u, normal_tensor({3, 3}, 5), B, B), "A");
    EXPECT_ERROR_CONTAINS(selective_scan(u, u, A, B, B, normal_tensor({3}, 6)), "D");
    EXPECT_ERROR_CONTAINS(
        selective_scan(u, u, A, B, B, Tensor(), Tensor(), Tensor(), false, false, "rk4"),
        "discretization");
}

}  // namespace
}  // namespace structseq
