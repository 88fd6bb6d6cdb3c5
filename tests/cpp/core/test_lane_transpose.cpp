#include "structseq/core/lane_transpose.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace structseq {
namespace {

// Row-major rows ↔ lane-minor layout against plain loops, for both element sizes, lengths
// that are and are not multiples of the transpose width, and runs longer than one tile.
template <class Real, int Lanes>
void check_round_trip() {
    for (const std::int64_t n : {1, 3, 4, 8, 9, 63, 64, 65, 200}) {
        std::vector<std::vector<Real>> rows(Lanes, std::vector<Real>(static_cast<std::size_t>(n)));
        std::vector<Real> shift(static_cast<std::size_t>(n));
        for (std::int64_t i = 0; i < n; ++i) {
            shift[i] = static_cast<Real>(0.5 * i);
            for (int l = 0; l < Lanes; ++l) rows[l][i] = static_cast<Real>(1000 * l + i);
        }
        const Real* in[Lanes];
        for (int l = 0; l < Lanes; ++l) in[l] = rows[l].data();
        std::vector<Real> x(static_cast<std::size_t>(n * Lanes), Real(-1));
        gather_lanes<Lanes>(in, n, x.data());
        std::vector<Real> shifted(x.size(), Real(-1));
        gather_lanes<Lanes>(in, n, shifted.data(), shift.data());
        for (std::int64_t i = 0; i < n; ++i) {
            for (int l = 0; l < Lanes; ++l) {
                ASSERT_EQ(x[i * Lanes + l], rows[l][i]) << "n " << n << " i " << i << " l " << l;
                ASSERT_EQ(shifted[i * Lanes + l], rows[l][i] + shift[i]);
            }
        }
        // Pairs: x2[2 (i L + l) + k] → out[l][2 i + k].
        std::vector<Real> pairs(static_cast<std::size_t>(2 * n * Lanes));
        for (std::size_t k = 0; k < pairs.size(); ++k) pairs[k] = static_cast<Real>(k);
        std::vector<std::vector<Real>> out(Lanes,
                                           std::vector<Real>(static_cast<std::size_t>(2 * n), -1));
        Real* out_rows[Lanes];
        for (int l = 0; l < Lanes; ++l) out_rows[l] = out[l].data();
        scatter_lane_pairs<Lanes>(pairs.data(), n, out_rows);
        for (std::int64_t i = 0; i < n; ++i) {
            for (int l = 0; l < Lanes; ++l) {
                ASSERT_EQ(out[l][2 * i], pairs[2 * (i * Lanes + l)]) << "n " << n;
                ASSERT_EQ(out[l][2 * i + 1], pairs[2 * (i * Lanes + l) + 1]);
            }
        }
    }
}

TEST(LaneTranspose, GatherAndScatterMatchLoops) {
    check_round_trip<double, 16>();
    check_round_trip<double, 8>();
    check_round_trip<float, 32>();
    check_round_trip<float, 16>();
}

// The sink writes every position exactly once whether positions arrive backward (flushing at
// multiples of the span) or forward (flushing at the span's last position or at n - 1).
TEST(LaneTranspose, PairSinkWritesEveryPositionInEitherDirection) {
    using V = LaneVector<double, 8>;
    constexpr std::int64_t span = LanePairSink<double, 8>::kSpan;
    for (const std::int64_t n : {1, 4, 5, 11}) {
        for (const bool backward : {true, false}) {
            std::vector<std::vector<double>> out(8, std::vector<double>(2 * n, -1.0));
            double* rows[8];
            for (int l = 0; l < 8; ++l) rows[l] = out[l].data();
            LanePairSink<double, 8> sink(rows);
            for (std::int64_t k = 0; k < n; ++k) {
                const std::int64_t i = backward ? n - 1 - k : k;
                V re, im;
                for (int l = 0; l < 8; ++l) {
                    re[l] = static_cast<double>(100 * i + l);
                    im[l] = -re[l];
                }
                sink.put(i, re, im);
                if (backward && i % span == 0) sink.flush(i, std::min(span, n - i));
                if (!backward && (i % span == span - 1 || i == n - 1)) {
                    sink.flush(i - i % span, i % span + 1);
                }
            }
            for (std::int64_t i = 0; i < n; ++i) {
                for (int l = 0; l < 8; ++l) {
                    ASSERT_EQ(out[l][2 * i], 100.0 * i + l) << "n " << n << " back " << backward;
                    ASSERT_EQ(out[l][2 * i + 1], -(100.0 * i + l));
                }
            }
        }
    }
}

}  // namespace
}  // namespace structseq
