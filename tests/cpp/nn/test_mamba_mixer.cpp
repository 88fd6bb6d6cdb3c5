#include "structseq/nn/mamba_mixer.h"

#include "structseq/core/rng.h"
#include "test_util.h"

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

namespace structseq {
namespace {

MambaMixerWeights small_weights(bool biases) {
    const std::int64_t d = 4, di = 6, n = 3, r = 2, kc = 4;
    MambaMixerWeights w;
    w.in_proj = testing::normal_tensor({2 * di, d}, 1, 0.5);
    w.conv_weight = testing::normal_tensor({di, kc}, 2, 0.5);
    w.conv_bias = testing::normal_tensor({di}, 3, 0.1);
    w.x_proj = testing::normal_tensor({r + 2 * n, di}, 4, 0.5);
    w.dt_proj = testing::normal_tensor({di, r}, 5, 0.5);
    w.dt_proj_bias = testing::normal_tensor({di}, 6, 0.5);
    w.A_log = testing::normal_tensor({di, n}, 7, 0.3);
    w.D = testing::normal_tensor({di}, 8, 1.0);
    w.out_proj = testing::normal_tensor({d, di}, 9, 0.5);
    if (biases) {
        w.in_proj_bias = testing::normal_tensor({2 * di}, 10, 0.1);
        w.out_proj_bias = testing::normal_tensor({d}, 11, 0.1);
    }
    return w;
}

// The stored matrices of a projection: its weight, or its blocks, U, V, diagonal.
void add_projection(std::vector<std::pair<std::string, Tensor*>>& out, const std::string& name,
                    Projection& p) {
    for (const auto& [suffix, t] :
         {std::pair{"", &p.weight}, std::pair{".blocks", &p.blocks}, std::pair{".U", &p.U},
          std::pair{".V", &p.V}, std::pair{".diag", &p.diag}}) {
        if (t->defined()) out.emplace_back(name + suffix, t);
    }
}

std::vector<std::pair<std::string, Tensor*>> named(MambaMixerWeights& w) {
    std::vector<std::pair<std::string, Tensor*>> out = {{"in_proj_bias", &w.in_proj_bias},
                                                        {"conv_weight", &w.conv_weight},
                                                        {"conv_bias", &w.conv_bias},
                                                        {"dt_proj", &w.dt_proj},
                                                        {"dt_proj_bias", &w.dt_proj_bias},
                                                        {"A_log", &w.A_log},
                                                        {"D", &w.D},
                                                        {"out_proj_bias", &w.out_proj_bias}};
    add_projection(out, "in_proj", w.in_proj);
    add_projection(out, "x_proj", w.x_proj);
    add_projection(out, "out_proj", w.out_proj);
    return out;
}

// The same mixer with seed 002's structured projections: low-rank in_proj and out_proj,
// block-sparse x_proj.
MambaMixerWeights structured_weights() {
    MambaMixerWeights w = small_weights(true);
    Rng rng(30);
    w.in_proj = Projection::low_rank(12, 4, 2, DType::F64);
    w.x_proj = Projection::block_sparse(8, 6, 0.5, DType::F64);
    w.out_proj = Projection::low_rank(4, 6, 2, DType::F64);
    for (Projection* p : {&w.in_proj, &w.x_proj, &w.out_proj}) p->fill_uniform(rng, 0.8);
    return w;
}

// L = Σ dout ⊙ mixer(h): the gradients of h and of every weight against central differences
// (float64), with and without the optional biases; sequences shorter and longer than d_conv;
// A discretized by ZOH, and once bilinearly.
TEST(MambaMixer, BackwardMatchesFiniteDifferences) {
    for (const auto& [biases, length, discretization, structured] :
         {std::tuple{false, 3, "zoh", false}, std::tuple{false, 7, "zoh", false},
          std::tuple{true, 3, "zoh", false}, std::tuple{true, 7, "zoh", false},
          std::tuple{true, 7, "bilinear", false}, std::tuple{true, 7, "zoh", true}}) {
        {
            const std::int64_t batch = 2, d = 4;
            MambaMixerWeights w = structured ? structured_weights() : small_weights(biases);
            const Tensor h = testing::normal_tensor({batch * length, d}, 20, 1.0);
            const Tensor dout = testing::normal_tensor({batch * length, d}, 21, 1.0);
            MambaMixerSaved saved;
            mamba_mixer_forward(w, h, batch, length, &saved, discretization);
            MambaMixerWeights grads = w.zeros_like();
            const Tensor dh = mamba_mixer_backward(w, saved, dout, grads);
            const auto loss = [&](const MambaMixerWeights& ww, const Tensor& hh) {
                const Tensor out =
                    mamba_mixer_forward(ww, hh, batch, length, nullptr, discretization);
                double sum = 0;
                for (std::int64_t k = 0; k < out.numel(); ++k) {
                    sum += out.data<double>()[k] * dout.data<double>()[k];
                }
                return sum;
            };
            const double step = 1e-6;
            const auto check = [&](const std::string& name, Tensor& x, const Tensor& grad,
                                   const auto& evaluate) {
                double worst = 0, largest = 0;
                for (std::int64_t k = 0; k < x.numel(); ++k) {
                    const double saved_value = x.data<double>()[k];
                    x.data<double>()[k] = saved_value + step;
                    const double up = evaluate();
                    x.data<double>()[k] = saved_value - step;
                    const double down = evaluate();
                    x.data<double>()[k] = saved_value;
                    const double fd = (up - down) / (2 * step);
                    worst = std::max(worst, std::abs(fd - grad.data<double>()[k]));
                    largest = std::max(largest, std::abs(fd));
                }
                EXPECT_LT(worst, 1e-7 * std::max(1.0, largest))
                    << name << " biases " << biases << " length " << length << " structured "
                    << structured;
            };
            Tensor hx = h.clone();
            check("h", hx, dh, [&] { return loss(w, hx); });
            MambaMixerWeights perturbed = w;
            for (auto& [name, tensor] : named(perturbed)) {
                if (!tensor->defined()) continue;
                *tensor = tensor->clone();
                MambaMixerWeights g = grads;
                const Tensor* grad = nullptr;
                for (auto& [gname, gtensor] : named(g)) {
                    if (gname == name) grad = gtensor;
                }
                check(name, *tensor, *grad, [&] { return loss(perturbed, h); });
            }
        }
    }
}

TEST(MambaMixer, BadArgumentsNameTheArgument) {
    const MambaMixerWeights w = small_weights(false);
    EXPECT_ERROR_CONTAINS(mamba_mixer_forward(w, testing::normal_tensor({6, 4}, 1, 1.0), 2, 4),
                          "h");
    EXPECT_ERROR_CONTAINS(mamba_mixer_forward(w, testing::normal_tensor({8, 5}, 1, 1.0), 2, 4),
                          "in_proj");
    EXPECT_ERROR_CONTAINS(
        mamba_mixer_forward(w, testing::normal_tensor({8, 4}, 1, 1.0).to(DType::F32), 2, 4),
        "dtype");
}

}  // namespace
}  // namespace structseq
