#include "structseq/nn/bk_mixer.h"

#include "structseq/core/rng.h"
#include "test_util.h"

#include <cmath>
#include <complex>
#include <string>
#include <tuple>
#include <vector>

namespace structseq {
namespace {

BkMixerWeights weights(DType dtype = DType::F64) {
    const std::int64_t d = 4, c = 3;
    return {testing::normal_tensor({c, d}, 1, 0.5).to(dtype),
            testing::normal_tensor({c}, 2, 0.3).to(dtype),
            testing::normal_tensor({d, 2 * c}, 3, 0.5).to(dtype),
            testing::normal_tensor({d}, 4, 0.1).to(dtype)};
}

// The recursion in plain loops: v = h W_inᵀ + b, d_t = 2 + v_t − i − 1/d_{t−1}, f = 1/d.
TEST(BkMixer, ForwardMatchesTheLoop) {
    const BkMixerWeights w = weights();
    const std::int64_t batch = 2, length = 5, d = 4, c = 3;
    const Tensor h = testing::normal_tensor({batch * length, d}, 5, 1.0);
    const Tensor out = bk_mixer_forward(w, h, batch, length);
    const auto at = [](const Tensor& t, std::int64_t i) { return t.data<double>()[i]; };
    double worst = 0;
    for (std::int64_t b = 0; b < batch; ++b) {
        std::vector<std::complex<double>> pivot(c);
        for (std::int64_t t = 0; t < length; ++t) {
            const std::int64_t row = b * length + t;
            std::vector<double> f(2 * c);
            for (std::int64_t k = 0; k < c; ++k) {
                double v = at(w.in_proj_bias, k);
                for (std::int64_t j = 0; j < d; ++j)
                    v += at(w.in_proj, k * d + j) * at(h, row * d + j);
                std::complex<double> dk = 2.0 + v - std::complex<double>(0, 1);
                if (t > 0) dk -= 1.0 / pivot[k];
                pivot[k] = dk;
                f[2 * k] = (1.0 / dk).real();
                f[2 * k + 1] = (1.0 / dk).imag();
            }
            for (std::int64_t o = 0; o < d; ++o) {
                double expected = at(w.out_proj_bias, o);
                for (std::int64_t j = 0; j < 2 * c; ++j)
                    expected += at(w.out_proj, o * 2 * c + j) * f[j];
                worst = std::max(worst, std::abs(at(out, row * d + o) - expected));
            }
        }
    }
    EXPECT_LT(worst, 1e-12);
}

// Σ dout ⊙ out: gradients of h and of every weight against central differences.
TEST(BkMixer, BackwardMatchesFiniteDifferences) {
    BkMixerWeights w = weights();
    const std::int64_t batch = 2, length = 6;
    Tensor h = testing::normal_tensor({batch * length, 4}, 6, 1.0);
    const Tensor dout = testing::normal_tensor({batch * length, 4}, 7, 1.0);
    BkMixerSaved saved;
    bk_mixer_forward(w, h, batch, length, &saved);
    BkMixerWeights g = w.zeros_like();
    const Tensor dh = bk_mixer_backward(w, saved, dout, g);
    const auto loss = [&] { return testing::dot(bk_mixer_forward(w, h, batch, length), dout); };
    using Entry = std::tuple<const char*, Tensor*, const Tensor*>;
    for (const auto& [name, x, grad] :
         {Entry{"h", &h, &dh}, Entry{"in_proj", &w.in_proj, &g.in_proj},
          Entry{"in_proj_bias", &w.in_proj_bias, &g.in_proj_bias},
          Entry{"out_proj", &w.out_proj, &g.out_proj},
          Entry{"out_proj_bias", &w.out_proj_bias, &g.out_proj_bias}}) {
        EXPECT_LT(testing::worst_central_difference(*x, *grad, loss), 1e-7) << name;
    }
}

// The recurrent form, one token at a time, gives the sequence form's rows (float64 and float32).
TEST(BkMixer, StepEqualsTheSequenceForm) {
    for (const DType dtype : {DType::F64, DType::F32}) {
        const BkMixerWeights w = weights(dtype);
        const std::int64_t batch = 2, length = 7;
        const Tensor h = testing::normal_tensor({batch, length, 4}, 8, 1.0).to(dtype);
        const Tensor full =
            bk_mixer_forward(w, h.reshape({batch * length, 4}), batch, length).to(DType::F64);
        Tensor pivots({batch, 3, 2}, dtype);
        double worst = 0;
        for (std::int64_t t = 0; t < length; ++t) {
            const Tensor out = bk_mixer_step(w, h.select(1, t).contiguous(), pivots).to(DType::F64);
            for (std::int64_t b = 0; b < batch; ++b) {
                for (std::int64_t o = 0; o < 4; ++o) {
                    worst =
                        std::max(worst, std::abs(out.data<double>()[b * 4 + o] -
                                                 full.data<double>()[(b * length + t) * 4 + o]));
                }
            }
        }
        EXPECT_LT(worst, dtype == DType::F64 ? 1e-13 : 1e-5) << dtype_name(dtype);
    }
}

TEST(BkMixer, BadArgumentsAreNamed) {
    const BkMixerWeights w = weights();
    EXPECT_ERROR_CONTAINS(bk_mixer_forward(w, testing::normal_tensor({6, 4}, 1, 1.0), 2, 4), "h");
    EXPECT_ERROR_CONTAINS(bk_mixer_forward(w, testing::normal_tensor({8, 5}, 1, 1.0), 2, 4),
                          "in_proj");
    BkMixerSaved empty;
    BkMixerWeights g = w.zeros_like();
    EXPECT_ERROR_CONTAINS(bk_mixer_backward(w, empty, testing::normal_tensor({8, 4}, 1, 1.0), g),
                          "saved");
}

}  // namespace
}  // namespace structseq
