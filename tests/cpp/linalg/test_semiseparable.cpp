#include "structseq/linalg/semiseparable.h"

#include "dense_reference.h"
#include "structseq/linalg/semiseparable_factorization.h"
#include "test_util.h"

#include <cmath>

namespace structseq {
namespace {

using testing::random_tensor;
using C = std::complex<double>;

SemiseparableMatrix random_semiseparable(std::int64_t n, std::int64_t r, std::uint64_t seed,
                                         DType dtype = DType::F64) {
    return SemiseparableMatrix(
        random_tensor({n}, seed, dtype), random_tensor({n - 1}, seed + 1, dtype),
        random_tensor({n - 1}, seed + 2, dtype), random_tensor({n, r}, seed + 3, dtype),
        random_tensor({n, r}, seed + 4, dtype));
}

// The dense reference T + U Vᵀ built entry by entry (not through to_dense).
Eigen::MatrixXd dense_reference(const SemiseparableMatrix& h) {
    Eigen::MatrixXd H = testing::dense_tridiagonal(h.main_diag(), h.super_diag(), h.sub_diag());
    H += testing::dense_of(h.U()) * testing::dense_of(h.V()).transpose();
    return H;
}

TEST(Semiseparable, MatvecRmatvecMatmatAndDenseMatchTheReference) {
    for (const auto& [n, r] :
         {std::pair<std::int64_t, std::int64_t>{1, 1}, {2, 0}, {17, 3}, {200, 8}}) {
        const SemiseparableMatrix h = random_semiseparable(n, r, 60 + n);
        const Eigen::MatrixXd H = dense_reference(h);
        const Tensor x = random_tensor({3, n}, 61);
        const Eigen::MatrixXd X = testing::dense_of(x);
        EXPECT_LT((testing::dense_of(h.matvec(x)) - X * H.transpose()).cwiseAbs().maxCoeff(),
                  1e-12);
        EXPECT_LT((testing::dense_of(h.rmatvec(x)) - X * H).cwiseAbs().maxCoeff(), 1e-12);
        const Tensor one = h.matvec(x.select(0, 1).contiguous());
        EXPECT_EQ(one.shape(), (Shape{n}));
        EXPECT_LT((testing::dense_of(one.reshape({n, 1})) - H * X.row(1).transpose())
                      .cwiseAbs()
                      .maxCoeff(),
                  1e-12);
        const Tensor cols = random_tensor({n, 4}, 62);
        EXPECT_LT(
            (testing::dense_of(h.matmat(cols)) - H * testing::dense_of(cols)).cwiseAbs().maxCoeff(),
            1e-12);
        EXPECT_LT((testing::dense_of(h.to_dense()) - H).cwiseAbs().maxCoeff(), 1e-13);
    }
}

TEST(Semiseparable, WoodburySolveAndResolventMatchDenseTo1e10) {
    const std::int64_t n = 150, r = 6;
    const SemiseparableMatrix h = random_semiseparable(n, r, 63);
    const Eigen::MatrixXd H = dense_reference(h);
    const Tensor rhs = random_tensor({2, n}, 64);
    for (const C z : {C(0.0, 0.0), C(0.4, 0.9), C(-1.0, -0.3)}) {
        const Eigen::MatrixXcd shifted = H.cast<C>() - z * Eigen::MatrixXcd::Identity(n, n);
        const auto lu = shifted.partialPivLu();
        const Tensor x = h.solve(rhs, z).to(DType::C128);
        for (std::int64_t b = 0; b < 2; ++b) {
            const Eigen::VectorXcd expected =
                lu.solve(testing::dense_of(rhs).row(b).transpose().cast<C>());
            EXPECT_LT(testing::relative_max_error(x.data<C>() + b * n, expected.data(), n), 1e-10);
        }
        if (z.imag() != 0) {
            const Eigen::VectorXcd expected = lu.inverse().diagonal();
            const Tensor g = h.resolvent_diagonal(z);
            EXPECT_LT(testing::relative_max_error(g.data<C>(), expected.data(), n), 1e-10);
        }
    }
    EXPECT_EQ(h.solve(rhs).dtype(), DType::F64);
}

TEST(Semiseparable, MemoryIsExactlyThreeNMinusTwoPlusTwoNr) {
    const SemiseparableMatrix h = random_semiseparable(1024, 10, 65, DType::F32);
    const SemiseparableMemory m = h.memory_usage();
    EXPECT_EQ(m.tridiagonal_bytes, (3 * 1024 - 2) * 4);
    EXPECT_EQ(m.lowrank_bytes, 2 * 1024 * 10 * 4);
    EXPECT_EQ(m.total_bytes, m.tridiagonal_bytes + m.lowrank_bytes);
    EXPECT_EQ(m.dense_bytes, 1024 * 1024 * 4);
    EXPECT_NEAR(m.memory_reduction, 1.0 - (3.0 * 1024 - 2 + 2 * 1024 * 10) / (1024.0 * 1024),
                1e-15);
}

// Central differences of L = <w, H x> in float64 with step 1e-6: truncation O(h²) ~ 1e-12
// and rounding ~1e-16/1e-6 = 1e-10 relative, so 1e-7 of the gradient scale is a safe bound.
TEST(Semiseparable, MatvecBackwardMatchesCentralDifferences) {
    const std::int64_t n = 9, r = 2;
    SemiseparableMatrix h = random_semiseparable(n, r, 66);
    const Tensor x = random_tensor({3, n}, 67), w = random_tensor({3, n}, 68);
    const auto loss = [&](const SemiseparableMatrix& m, const Tensor& input) {
        const Tensor y = m.matvec(input);
        double sum = 0;
        for (std::int64_t i = 0; i < y.numel(); ++i)
            sum += w.data<double>()[i] * y.data<double>()[i];
        return sum;
    };
    const SemiseparableGradients g = h.matvec_backward(w, x);
    const double step = 1e-6;
    const auto check = [&](const Tensor& analytic, auto perturbed_loss, std::int64_t count,
                           const char* name) {
        for (std::int64_t i = 0; i < count; ++i) {
            const double numeric =
                (perturbed_loss(i, step) - perturbed_loss(i, -step)) / (2 * step);
            EXPECT_NEAR(analytic.data<double>()[i], numeric, 1e-7 * (1 + std::abs(numeric)))
                << name << "[" << i << "]";
        }
    };
    check(
        g.dx,
        [&](std::int64_t i, double d) {
            Tensor xp = x.clone();
            xp.data<double>()[i] += d;
            return loss(h, xp);
        },
        x.numel(), "dx");
    const auto perturb_parameter = [&](int which) {
        return [&, which](std::int64_t i, double d) {
            Tensor parts[5] = {h.main_diag().clone(), h.super_diag().clone(), h.sub_diag().clone(),
                               h.U().clone(), h.V().clone()};
            parts[which].data<double>()[i] += d;
            return loss(SemiseparableMatrix(parts[0], parts[1], parts[2], parts[3], parts[4]), x);
        };
    };
    check(g.dmain_diag, perturb_parameter(0), n, "dmain_diag");
    check(g.dsuper_diag, perturb_parameter(1), n - 1, "dsuper_diag");
    check(g.dsub_diag, perturb_parameter(2), n - 1, "dsub_diag");
    check(g.dU, perturb_parameter(3), n * r, "dU");
    check(g.dV, perturb_parameter(4), n * r, "dV");
}

TEST(Semiseparable, CheckpointingRecomputesTheSameGradientsAndSavesTheProjection) {
    SemiseparableMatrix h = random_semiseparable(64, 6, 69);
    const Tensor x = random_tensor({4, 64}, 70), dout = random_tensor({4, 64}, 71);
    const SemiseparableGradients reference = h.matvec_backward(dout, x);
    h.checkpoint_forward(x);
    const std::int64_t plain = h.saved_bytes();
    const SemiseparableGradients g1 = h.checkpoint_backward(dout);
    h.enable_checkpointing();
    h.checkpoint_forward(x);
    const std::int64_t checkpointed = h.saved_bytes();
    const SemiseparableGradients g2 = h.checkpoint_backward(dout);
    EXPECT_EQ(plain, (4 * 64 + 4 * 6) * 8);  // x and Vᵀx
    EXPECT_EQ(checkpointed, 4 * 64 * 8);     // x only
    for (const SemiseparableGradients* g : {&g1, &g2}) {
        EXPECT_LT(
            (testing::dense_of(g->dU) - testing::dense_of(reference.dU)).cwiseAbs().maxCoeff(),
            1e-12);
        EXPECT_LT(
            (testing::dense_of(g->dx) - testing::dense_of(reference.dx)).cwiseAbs().maxCoeff(),
            1e-12);
    }
    EXPECT_EQ(h.saved_bytes(), 0);
    EXPECT_ERROR_CONTAINS(h.checkpoint_backward(dout), "call checkpoint_forward first");
}

TEST(SemiseparableFactorization, RecoversTridiagonalPlusLowRankTo1e10) {
    const SemiseparableMatrix truth = random_semiseparable(200, 5, 72);
    const Tensor H = truth.to_dense();
    SemiseparableFitOptions one_shot;
    one_shot.rank = 5;
    one_shot.max_iter = 1;
    SemiseparableFitReport first;
    create_semiseparable_from_dense(H, one_shot, &first);
    EXPECT_GT(first.relative_error, 1e-3);  // the seed's one-shot split is far from exact
    for (const char* method : {"svd", "rsvd"}) {
        SemiseparableFitOptions options;
        options.rank = 5;
        options.method = method;
        SemiseparableFitReport report;
        const SemiseparableMatrix fit = create_semiseparable_from_dense(H, options, &report);
        EXPECT_LE(fit.verify_factorization(H, 1e-10).relative_error, 1e-10) << method;
        EXPECT_TRUE(fit.verify_factorization(H, 1e-10).passes_tolerance);
        EXPECT_NEAR(report.history.front(), first.relative_error, 1e-8);  // same first step
        for (std::size_t i = 1; i < report.history.size(); ++i) {
            EXPECT_LE(report.history[i], report.history[i - 1] * (1 + 1e-12)) << "iteration " << i;
        }
    }
}

TEST(SemiseparableFactorization, TargetErrorPicksTheStructuralRankAndDefaultIsLog2N) {
    const Tensor H = random_semiseparable(120, 4, 73).to_dense();
    SemiseparableFitOptions options;
    options.target_error = 1e-8;
    SemiseparableFitReport report;
    const SemiseparableMatrix fit = create_semiseparable_from_dense(H, options, &report);
    EXPECT_EQ(fit.rank(), 4);
    EXPECT_LE(report.relative_error, 1e-8);
    EXPECT_EQ(create_semiseparable_from_dense(H).rank(), 7);  // ⌈log₂ 120⌉
    SemiseparableFitOptions capped;
    capped.target_error = 1e-8;
    capped.rank = 2;
    EXPECT_ERROR_CONTAINS(create_semiseparable_from_dense(H, capped),
                          "target_error 1e-08 is not reached at rank 2");
}

TEST(Semiseparable, BadArgumentsAreClearErrors) {
    const Tensor a = random_tensor({5}, 74);
    EXPECT_ERROR_CONTAINS(SemiseparableMatrix(a, random_tensor({4}, 75), random_tensor({3}, 76),
                                              random_tensor({5, 2}, 77), random_tensor({5, 2}, 78)),
                          "sub_diag has shape (3,), expected (4,)");
    EXPECT_ERROR_CONTAINS(SemiseparableMatrix(a, random_tensor({4}, 75), random_tensor({4}, 76),
                                              random_tensor({5, 2}, 77), random_tensor({5, 3}, 78)),
                          "V has shape (5, 3), expected (5, 2)");
    const SemiseparableMatrix h = random_semiseparable(5, 2, 79);
    EXPECT_ERROR_CONTAINS(h.matvec(random_tensor({6}, 80)),
                          "x is shape (6,), expected (5,) or (B, 5)");
    SemiseparableFitOptions bad;
    bad.method = "qr";
    EXPECT_ERROR_CONTAINS(create_semiseparable_from_dense(h.to_dense(), bad),
                          "method is 'qr', expected 'svd' or 'rsvd'");
    Tensor nan = h.to_dense();
    nan.data<double>()[7] = NAN;
    EXPECT_ERROR_CONTAINS(create_semiseparable_from_dense(nan), "H[1, 2] is nan");
    // T - zI singular at z = 0 (T = 0): Woodbury needs an invertible tridiagonal part.
    const SemiseparableMatrix zero_t(Tensor({3}, DType::F64), Tensor({2}, DType::F64),
                                     Tensor({2}, DType::F64), random_tensor({3, 1}, 81),
                                     random_tensor({3, 1}, 82));
    EXPECT_ERROR_CONTAINS(zero_t.solve(random_tensor({3}, 83)),
                          "tridiagonal part T - zI is singular");
}

}  // namespace
}  // namespace structseq
