#include "structseq/ssm/discretize.h"

#include "test_util.h"

#include <cmath>

namespace structseq {
namespace {

using testing::tensor_of;
using testing::values_of;

// Scalar systems have closed forms: Ā = e^{a dt}, B̄ = (e^{a dt} − 1)/a · b.
TEST(Discretize, ScalarZohAndBilinearClosedForms) {
    const double a = -0.7, b = 2.0, dt = 0.3;
    const DiscreteSystem zoh = discretize(tensor_of({a}, {1, 1}), tensor_of({b}, {1, 1}), dt);
    EXPECT_NEAR(values_of(zoh.A)[0], std::exp(a * dt), 1e-15);
    EXPECT_NEAR(values_of(zoh.B)[0], (std::exp(a * dt) - 1) / a * b, 1e-15);
    const DiscreteSystem bil =
        discretize(tensor_of({a}, {1, 1}), tensor_of({b}, {1, 1}), dt, "bilinear");
    EXPECT_NEAR(values_of(bil.A)[0], (1 + a * dt / 2) / (1 - a * dt / 2), 1e-15);
    EXPECT_NEAR(values_of(bil.B)[0], dt * b / (1 - a * dt / 2), 1e-15);
}

// The double integrator (A nilpotent, singular): Ā = [[1, dt], [0, 1]], B̄ = [dt²/2, dt].
TEST(Discretize, ZohOfSingularA) {
    const double dt = 0.5;
    const DiscreteSystem d =
        discretize(tensor_of({0, 1, 0, 0}, {2, 2}), tensor_of({0, 1}, {2, 1}), dt);
    const std::vector<double> A = values_of(d.A), B = values_of(d.B);
    EXPECT_NEAR(A[0], 1, 1e-15);
    EXPECT_NEAR(A[1], dt, 1e-15);
    EXPECT_NEAR(A[2], 0, 1e-15);
    EXPECT_NEAR(A[3], 1, 1e-15);
    EXPECT_NEAR(B[0], dt * dt / 2, 1e-15);
    EXPECT_NEAR(B[1], dt, 1e-15);
}

TEST(Discretize, DiagonalMatchesDenseIncludingZeroEigenvalue) {
    const std::vector<double> a = {-1.0, 0.0, -1e-12, 0.5};
    const Tensor B = tensor_of({1, 2, 3, 4}, {4, 1});
    std::vector<double> dense(16, 0.0);
    for (int i = 0; i < 4; ++i) dense[i * 5] = a[i];
    for (const char* method : {"zoh", "bilinear"}) {
        const DiscreteSystem diag = discretize(tensor_of(a, {4}), B, 0.25, method);
        const DiscreteSystem full = discretize(tensor_of(dense, {4, 4}), B, 0.25, method);
        const std::vector<double> Ad = values_of(diag.A), Af = values_of(full.A);
        const std::vector<double> Bd = values_of(diag.B), Bf = values_of(full.B);
        for (int i = 0; i < 4; ++i) {
            EXPECT_NEAR(Ad[i], Af[i * 5], 1e-14) << method;
            EXPECT_NEAR(Bd[i], Bf[i], 1e-13) << method;
        }
    }
}

TEST(Discretize, RejectsBadArguments) {
    const Tensor A = tensor_of({-1, 0, 0, -1}, {2, 2}), B = tensor_of({1, 1}, {2, 1});
    EXPECT_ERROR_CONTAINS(discretize(A, B, 0.0), "dt");
    EXPECT_ERROR_CONTAINS(discretize(A, B, 0.1, "rk4"), "method");
    EXPECT_ERROR_CONTAINS(discretize(A, B, 0.1, "gbt", 1.5), "alpha");
    EXPECT_ERROR_CONTAINS(discretize(A, tensor_of({1, 1, 1}, {3}), 0.1), "B");
    EXPECT_ERROR_CONTAINS(discretize(tensor_of({1, 2, 3, 4, 5, 6}, {2, 3}), B, 0.1), "A");
}

}  // namespace
}  // namespace structseq
