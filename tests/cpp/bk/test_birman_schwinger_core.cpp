#include "structseq/bk/birman_schwinger_core.h"

#include "structseq/core/rng.h"
#include "test_util.h"

#include <Eigen/Dense>

#include <cmath>
#include <cstring>

namespace structseq {
namespace {

using C = std::complex<double>;

Tensor normals(Shape shape, std::uint64_t seed, double scale = 1.0) {
    return Rng(seed).normal(std::move(shape), DType::F64, 0.0, scale);
}

BirmanSchwingerOptions options(std::int64_t n, BkMode mode, C z = C(0.3, 0.8)) {
    BirmanSchwingerOptions o;
    o.n_seq = n;
    o.z = z;
    o.mode = mode;
    o.learnable_z = true;
    return o;
}

// Dense reference: the Laplacian plus diag(v), inverted (bidirectional) or the last diagonal
// entry of each leading block's inverse (causal).
Eigen::VectorXcd dense_features(const double* v, std::int64_t n, BkMode mode, C z) {
    Eigen::MatrixXcd H = Eigen::MatrixXcd::Zero(n, n);
    for (std::int64_t i = 0; i < n; ++i) {
        H(i, i) = 2.0 + v[i] - z;
        if (i + 1 < n) H(i, i + 1) = H(i + 1, i) = -1.0;
    }
    Eigen::VectorXcd f(n);
    if (mode == BkMode::Bidirectional) return H.inverse().diagonal();
    for (std::int64_t i = 0; i < n; ++i) f(i) = H.topLeftCorner(i + 1, i + 1).inverse()(i, i);
    return f;
}

TEST(BirmanSchwingerCore, FeaturesMatchTheDenseResolvent) {
    for (const BkMode mode : {BkMode::Bidirectional, BkMode::Causal}) {
        BirmanSchwingerCore core(options(40, mode));
        const Tensor v = normals({2, 3, 40}, 1);
        BirmanSchwingerDiagnostics d;
        const Tensor f = core.forward(v, std::nullopt, &d);
        ASSERT_EQ(f.shape(), (Shape{2, 3, 40, 2}));
        EXPECT_EQ(d.sequences, 6);
        for (std::int64_t r = 0; r < 6; ++r) {
            const Eigen::VectorXcd expected =
                dense_features(v.data<double>() + r * 40, 40, mode, C(0.3, 0.8));
            for (std::int64_t i = 0; i < 40; ++i) {
                const C got(f.data<double>()[(r * 40 + i) * 2],
                            f.data<double>()[(r * 40 + i) * 2 + 1]);
                EXPECT_LT(std::abs(got - expected(i)), 1e-13 * (1 + std::abs(expected(i))));
            }
        }
    }
}

// L = <w, features>; central differences in float64 with step 1e-6 (truncation ~1e-12,
// rounding ~1e-10 relative): 1e-7 absolute on O(1) gradients.
TEST(BirmanSchwingerCore, BackwardMatchesCentralDifferencesForVAndZ) {
    for (const BkMode mode : {BkMode::Bidirectional, BkMode::Causal}) {
        for (const bool checkpointing : {false, true}) {
            BirmanSchwingerOptions o = options(9, mode);
            o.gradient_checkpointing = checkpointing;
            BirmanSchwingerCore core(o);
            const Tensor v = normals({2, 9}, 2), w = normals({2, 9, 2}, 3);
            core.forward(v);
            if (checkpointing) {
                EXPECT_EQ(core.saved_bytes(), 2 * 9 * 8);
            }
            const Tensor grad_v = core.backward(w);
            const auto loss = [&](const Tensor& input, C z) {
                BirmanSchwingerCore probe(options(9, mode, z));
                const Tensor f = probe.forward(input);
                double sum = 0;
                for (std::int64_t i = 0; i < f.numel(); ++i)
                    sum += f.data<double>()[i] * w.data<double>()[i];
                return sum;
            };
            const double h = 1e-6;
            for (std::int64_t i = 0; i < v.numel(); ++i) {
                Tensor plus = v.clone(), minus = v.clone();
                plus.data<double>()[i] += h;
                minus.data<double>()[i] -= h;
                const double numeric = (loss(plus, o.z) - loss(minus, o.z)) / (2 * h);
                EXPECT_NEAR(grad_v.data<double>()[i], numeric, 1e-7) << i;
            }
            const C numeric_z((loss(v, o.z + h) - loss(v, o.z - h)) / (2 * h),
                              (loss(v, o.z + C(0, h)) - loss(v, o.z - C(0, h))) / (2 * h));
            EXPECT_LT(std::abs(core.grad_z() - numeric_z), 1e-7);
        }
    }
}

// Semiseparable mode: H = Laplacian + diag(v) + U Vᵀ. Forward against a dense inverse; every
// gradient (v, U, V, z) by central differences in float64 (same tolerance argument as above).
TEST(BirmanSchwingerCore, SemiseparableModeMatchesDenseAndFiniteDifferences) {
    const std::int64_t n = 12, rank = 3;
    BirmanSchwingerOptions o = options(n, BkMode::Bidirectional);
    o.use_semiseparable = true;
    o.semiseparable_rank = rank;
    BirmanSchwingerCore core(o);
    const Tensor v = normals({2, n}, 11), w = normals({2, n, 2}, 12);
    const Tensor U = core.U().clone(), V = core.V().clone();
    const auto dense_loss = [&](const Tensor& pv, const Tensor& pU, const Tensor& pV, C z,
                                Eigen::MatrixXcd* features) {
        double sum = 0;
        for (std::int64_t b = 0; b < 2; ++b) {
            Eigen::MatrixXcd H = Eigen::MatrixXcd::Zero(n, n);
            for (std::int64_t i = 0; i < n; ++i) {
                H(i, i) = 2.0 + pv.data<double>()[b * n + i] - z;
                if (i + 1 < n) H(i, i + 1) = H(i + 1, i) = -1.0;
                for (std::int64_t j = 0; j < n; ++j) {
                    for (std::int64_t p = 0; p < rank; ++p) {
                        H(i, j) +=
                            pU.data<double>()[i * rank + p] * pV.data<double>()[j * rank + p];
                    }
                }
            }
            const Eigen::VectorXcd g = H.inverse().diagonal();
            if (features != nullptr) features->row(b) = g.transpose();
            for (std::int64_t i = 0; i < n; ++i) {
                sum += g(i).real() * w.data<double>()[(b * n + i) * 2] +
                       g(i).imag() * w.data<double>()[(b * n + i) * 2 + 1];
            }
        }
        return sum;
    };
    Eigen::MatrixXcd expected(2, n);
    dense_loss(v, U, V, o.z, &expected);
    const Tensor f = core.forward(v);
    for (std::int64_t b = 0; b < 2; ++b) {
        for (std::int64_t i = 0; i < n; ++i) {
            const C got(f.data<double>()[(b * n + i) * 2], f.data<double>()[(b * n + i) * 2 + 1]);
            EXPECT_LT(std::abs(got - expected(b, i)), 1e-12);
        }
    }
    const Tensor grad_v = core.backward(w);
    const double h = 1e-6;
    const auto check = [&](const Tensor& analytic, const Tensor& base, int which) {
        for (std::int64_t i = 0; i < base.numel(); ++i) {
            Tensor plus = base.clone(), minus = base.clone();
            plus.data<double>()[i] += h;
            minus.data<double>()[i] -= h;
            const auto at = [&](const Tensor& t) {
                return dense_loss(which == 0 ? t : v, which == 1 ? t : U, which == 2 ? t : V, o.z,
                                  nullptr);
            };
            EXPECT_NEAR(analytic.data<double>()[i], (at(plus) - at(minus)) / (2 * h), 1e-7)
                << "parameter " << which << " index " << i;
        }
    };
    check(grad_v, v, 0);
    check(core.grad_U(), U, 1);
    check(core.grad_V(), V, 2);
    const C numeric_z(
        (dense_loss(v, U, V, o.z + h, nullptr) - dense_loss(v, U, V, o.z - h, nullptr)) / (2 * h),
        (dense_loss(v, U, V, o.z + C(0, h), nullptr) -
         dense_loss(v, U, V, o.z - C(0, h), nullptr)) /
            (2 * h));
    EXPECT_LT(std::abs(core.grad_z() - numeric_z), 1e-7);
    o.mode = BkMode::Causal;
    EXPECT_ERROR_CONTAINS(BirmanSchwingerCore{o}, "a global low-rank term");
}

// Batches of 8 rows or more take the vectorized backward (16 double / 32 float lanes, padded);
// it must agree with the one-row path (checked by finite differences above) row by row.
TEST(BirmanSchwingerCore, LaneBackwardAgreesWithTheOneRowPath) {
    for (const BkMode mode : {BkMode::Bidirectional, BkMode::Causal}) {
        for (const auto& [dtype, rows] :
             {std::pair{DType::C128, std::int64_t{21}}, std::pair{DType::C128, std::int64_t{10}},
              std::pair{DType::C64, std::int64_t{40}}, std::pair{DType::C64, std::int64_t{20}}}) {
            const std::int64_t n = 37;
            BirmanSchwingerOptions o = options(n, mode);
            o.dtype = dtype;
            const DType real = dtype == DType::C128 ? DType::F64 : DType::F32;
            const Tensor v = normals({rows, n}, 13).to(real),
                         w = normals({rows, n, 2}, 14).to(real);
            BirmanSchwingerCore batched(o);
            batched.forward(v);
            const Tensor grad = batched.backward(w).to(DType::F64);
            C single_z = 0;
            for (std::int64_t r = 0; r < rows; ++r) {
                BirmanSchwingerCore one(o);
                one.forward(v.narrow(0, r, 1));
                const Tensor g = one.backward(w.narrow(0, r, 1)).to(DType::F64);
                single_z += one.grad_z();
                for (std::int64_t i = 0; i < n; ++i) {
                    // float32: the lane and scalar paths round differently along the chain.
                    const double tolerance = dtype == DType::C128 ? 1e-12 : 1e-4;
                    EXPECT_NEAR(grad.data<double>()[r * n + i], g.data<double>()[i],
                                tolerance * (1 + std::abs(g.data<double>()[i])))
                        << "row " << r << " position " << i;
                }
            }
            EXPECT_LT(std::abs(batched.grad_z() - single_z),
                      (dtype == DType::C128 ? 1e-10 : 1e-2) * (1 + std::abs(single_z)));
        }
    }
}

TEST(BirmanSchwingerCore, CausalFeaturesIgnoreTheFutureBitForBit) {
    BirmanSchwingerCore core(options(300, BkMode::Causal));
    const Tensor v = normals({4, 300}, 4);
    const Tensor before = core.forward(v).clone();
    for (const std::int64_t j : {0, 1, 150, 299}) {
        Tensor changed = v.clone();
        for (std::int64_t b = 0; b < 4; ++b) changed.data<double>()[b * 300 + j] += 3.7;
        const Tensor after = core.forward(changed);
        for (std::int64_t b = 0; b < 4; ++b) {
            // Features i < j are bit-identical; feature j itself moves.
            EXPECT_EQ(std::memcmp(before.data<double>() + b * 600, after.data<double>() + b * 600,
                                  static_cast<std::size_t>(j) * 2 * sizeof(double)),
                      0);
            EXPECT_NE(before.data<double>()[b * 600 + 2 * j],
                      after.data<double>()[b * 600 + 2 * j]);
        }
    }
}

TEST(BirmanSchwingerCore, MillionSitesWithLargePotentialStayFinite) {
    BirmanSchwingerCore core(options(1'000'000, BkMode::Bidirectional, C(0.0, 1.0)));
    const Tensor v = normals({1, 1'000'000}, 5, 1000.0);  // |v| up to a few thousand
    BirmanSchwingerDiagnostics d;
    const Tensor f = core.forward(v, std::nullopt, &d);
    for (std::int64_t i = 0; i < f.numel(); ++i)
        ASSERT_TRUE(std::isfinite(f.data<double>()[i])) << i;
    const Tensor g = core.backward(normals({1, 1'000'000, 2}, 6));
    for (std::int64_t i = 0; i < g.numel(); ++i)
        ASSERT_TRUE(std::isfinite(g.data<double>()[i])) << i;
    EXPECT_GT(d.min_abs_pivot, 0.0);
}

TEST(BirmanSchwingerCore, Complex64AgreesWithComplex128) {
    BirmanSchwingerOptions o = options(200, BkMode::Bidirectional);
    BirmanSchwingerCore wide(o);
    o.dtype = DType::C64;
    BirmanSchwingerCore narrow(o);
    const Tensor v = normals({3, 200}, 7);
    const Tensor f64 = wide.forward(v);
    const Tensor f32 = narrow.forward(v.to(DType::F32));
    ASSERT_EQ(f32.dtype(), DType::F32);
    for (std::int64_t i = 0; i < f64.numel(); ++i) {
        EXPECT_NEAR(f32.data<float>()[i], f64.data<double>()[i], 2e-5);
    }
}

TEST(BirmanSchwingerCore, BadInputAndSingularPivotsAreErrors) {
    EXPECT_ERROR_CONTAINS(BirmanSchwingerCore(options(8, BkMode::Bidirectional, C(0.5, 0.0))),
                          "z is 0.5+0j, expected a finite complex number with Im z != 0");
    BirmanSchwingerCore core(options(8, BkMode::Causal));
    EXPECT_ERROR_CONTAINS(core.forward(normals({2, 7}, 8)), "v is shape (2, 7), expected (B, 8)");
    EXPECT_ERROR_CONTAINS(core.backward(normals({2, 8, 2}, 9)), "backward without a forward");
    Tensor nan = normals({1, 8}, 10);
    nan.data<double>()[3] = NAN;
    EXPECT_ERROR_CONTAINS(core.forward(nan), "v holds nan at row 0, position 3");
    // A non-symmetric H0 = [[0, 1], [-1, 0]] at z = i: d_0 = -i, and
    // d_1 = -i - (1 · -1)/(-i) = -i + 1/(-i) = 0, so the 2 × 2 block is singular.
    BirmanSchwingerOptions o = options(2, BkMode::Causal, C(0.0, 1.0));
    o.main_diag = {0.0, 0.0};
    o.super_diag = {1.0};
    o.sub_diag = {-1.0};
    BirmanSchwingerCore nonsymmetric(o);
    const Tensor zero({1, 2}, DType::F64);
    EXPECT_ERROR_CONTAINS(nonsymmetric.forward(zero), "forward pivot d_1 of row 0");
}

}  // namespace
}  // namespace structseq
