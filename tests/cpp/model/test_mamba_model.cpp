#include "structseq/model/mamba_model.h"

#include "structseq/core/memory_stats.h"
#include "structseq/core/rng.h"
#include "structseq/model/mamba_init.h"
#include "test_util.h"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace structseq {
namespace {

Tensor normals(Shape shape, std::uint64_t seed, double scale, double mean = 0.0) {
    return Rng(seed).normal(std::move(shape), DType::F64, mean, scale);
}

// With `bk`, the second layer is a BK mixer (3 channels) instead of Mamba's.
MambaModel tiny_model(std::uint64_t seed, std::int64_t ffn_dim = 0, bool bk = false) {
    MambaConfig c;
    c.d_model = 4;
    c.n_layer = 2;
    c.vocab_size = 7;
    c.d_state = 3;
    c.d_conv = 3;
    c.d_inner = 6;
    c.dt_rank = 2;
    c.ffn_dim = ffn_dim;
    if (bk) {
        c.mixers = {"ssm", "bk"};
        c.bk_channels = 3;
    }
    MambaWeights w;
    w.embedding = normals({c.vocab_size, c.d_model}, seed, 1.0);
    w.norm_f = normals({c.d_model}, seed + 1, 0.1, 1.0);
    for (std::int64_t l = 0; l < c.n_layer; ++l) {
        const std::uint64_t s = seed + 10 * (l + 1);
        MambaLayerWeights layer;
        layer.norm = normals({c.d_model}, s, 0.1, 1.0);
        if (bk && l == 1) {
            layer.bk = {normals({3, c.d_model}, s + 1, 0.5), normals({3}, s + 2, 0.3),
                        normals({c.d_model, 6}, s + 3, 0.5), normals({c.d_model}, s + 4, 0.1)};
            w.layers.push_back(std::move(layer));
            continue;
        }
        MambaMixerWeights& m = layer.mixer;
        m.in_proj = normals({2 * c.d_inner, c.d_model}, s + 1, 0.5);
        m.conv_weight = normals({c.d_inner, c.d_conv}, s + 2, 0.5);
        m.conv_bias = normals({c.d_inner}, s + 3, 0.1);
        m.x_proj = normals({c.dt_rank + 2 * c.d_state, c.d_inner}, s + 4, 0.5);
        m.dt_proj = normals({c.d_inner, c.dt_rank}, s + 5, 0.5);
        m.dt_proj_bias = normals({c.d_inner}, s + 6, 0.5, -1.0);
        m.A_log = normals({c.d_inner, c.d_state}, s + 7, 0.3);
        m.D = normals({c.d_inner}, s + 8, 0.5, 1.0);
        m.out_proj = normals({c.d_model, c.d_inner}, s + 9, 0.5);
        if (ffn_dim > 0) {
            layer.ffn_norm = normals({c.d_model}, s + 10, 0.1, 1.0);
            layer.ffn.fc1 = normals({ffn_dim, c.d_model}, s + 11, 0.5);
            layer.ffn.fc1_bias = normals({ffn_dim}, s + 12, 0.1);
            layer.ffn.fc2 = normals({c.d_model, ffn_dim}, s + 13, 0.5);
            layer.ffn.fc2_bias = normals({c.d_model}, s + 14, 0.1);
        }
        w.layers.push_back(std::move(layer));
    }
    return MambaModel(c, std::move(w));
}

// Every weight's gradient in `grads` against central differences of `loss` (float64 model).
template <class Loss>
void expect_gradients_match_differences(const MambaModel& model, MambaWeights& grads, Loss loss,
                                        const std::string& label) {
    MambaWeights perturbed = model.weights();
    auto named_grads = grads.named_tensors();
    auto named = perturbed.named_tensors();
    const double step = 1e-6;
    for (std::size_t i = 0; i < named.size(); ++i) {
        Tensor& x = *named[i].second;
        x = x.clone();
        const Tensor& grad = *named_grads[i].second;
        double worst = 0;
        for (std::int64_t k = 0; k < x.numel(); ++k) {
            const double saved = x.data<double>()[k];
            x.data<double>()[k] = saved + step;
            const double up = loss(MambaModel(model.config(), perturbed));
            x.data<double>()[k] = saved - step;
            const double down = loss(MambaModel(model.config(), perturbed));
            x.data<double>()[k] = saved;
            worst = std::max(worst, std::abs((up - down) / (2 * step) - grad.data<double>()[k]));
        }
        EXPECT_LT(worst, 1e-8) << named[i].first << " " << label;
    }
}

Tensor ids(Shape shape, std::vector<std::int64_t> values) {
    Tensor t(std::move(shape), DType::I64);
    for (std::size_t k = 0; k < values.size(); ++k) t.data<std::int64_t>()[k] = values[k];
    return t;
}

// The loss equals the mean cross-entropy of logits(); its gradient for every weight of a
// 2-layer float64 model — Mamba mixers, with feed-forward blocks, and with a BK mixer in the
// second layer — matches central differences (one target ignored).
TEST(MambaModelLoss, ValueAndGradientOfEveryWeight) {
    for (const auto& [ffn_dim, bk] :
         {std::pair{0, false}, std::pair{5, false}, std::pair{0, true}}) {
        const MambaModel model = tiny_model(1, ffn_dim, bk);
        const Tensor tokens = ids({2, 5}, {1, 4, 2, 6, 0, 3, 3, 5, 1, 2});
        const Tensor targets = ids({2, 5}, {4, 2, 6, 0, -1, 3, 5, 1, 2, 6});
        const Tensor logits = model.logits(tokens);
        double expected = 0;
        int counted = 0;
        for (std::int64_t k = 0; k < 10; ++k) {
            const std::int64_t t = targets.data<std::int64_t>()[k];
            if (t < 0) continue;
            const double* z = logits.data<double>() + k * 7;
            double sum = 0;
            for (int v = 0; v < 7; ++v) sum += std::exp(z[v]);
            expected += std::log(sum) - z[t];
            ++counted;
        }
        expected /= counted;
        MambaWeights grads = model.weights().zeros_like();
        EXPECT_NEAR(model.loss(tokens, targets, &grads), expected, 1e-12);
        EXPECT_NEAR(model.loss(tokens, targets), expected, 1e-12);

        expect_gradients_match_differences(
            model, grads, [&](const MambaModel& m) { return m.loss(tokens, targets); },
            fmt::format("ffn_dim {} bk {}", ffn_dim, bk));
    }
}

// A float64 model with a softmax-attention layer and a ridge-attention layer (2 heads of size
// 2 over d_model 4), rotary or learned positions, from init_mamba_weights with λ moved off 1.
MambaModel attention_model(std::uint64_t seed, const std::string& positions,
                           DType dtype = DType::F64) {
    MambaConfig c = mamba_config(4, 2, 7);
    c.mixers = {"attention", "ridge"};
    c.attention_heads = 2;
    c.positions = positions;
    c.max_seq_len = 6;
    c.ffn_dim = 3;
    MambaInitOptions init;
    init.seed = seed;
    MambaWeights w = init_mamba_weights(c, init, dtype);
    w.layers[1].attention.log_lambda = normals({2}, seed + 1, 0.5).to(dtype);
    // unit-scale rows: RMSNorm of 0.02-scale rows is too curved for central differences
    w.embedding = normals({7, 4}, seed + 4, 1.0).to(dtype);
    if (positions == "learned") w.positions = normals({6, 4}, seed + 5, 0.5).to(dtype);
    w.layers[0].attention.qkv = normals({12, 4}, seed + 2, 0.6).to(dtype);
    w.layers[1].attention.qkv = normals({12, 4}, seed + 3, 0.6).to(dtype);
    return MambaModel(c, std::move(w));
}

// Every weight's gradient of the attention and ridge layers (and the learned position table)
// against central differences; the recomputed-layer gradients are the same bits.
TEST(MambaModelLoss, AttentionAndRidgeLayersGradients) {
    for (const std::string positions : {"rotary", "learned"}) {
        MambaModel model = attention_model(5, positions);
        const Tensor tokens = ids({2, 5}, {1, 4, 2, 6, 0, 3, 3, 5, 1, 2});
        const Tensor targets = ids({2, 5}, {4, 2, 6, 0, -1, 3, 5, 1, 2, 6});
        MambaWeights grads = model.weights().zeros_like();
        model.loss(tokens, targets, &grads);
        expect_gradients_match_differences(
            model, grads, [&](const MambaModel& m) { return m.loss(tokens, targets); }, positions);
        model.set_recompute_layers(true);
        MambaWeights again = model.weights().zeros_like();
        model.loss(tokens, targets, &again);
        const auto x = grads.named_tensors(), y = again.named_tensors();
        for (std::size_t i = 0; i < x.size(); ++i) {
            EXPECT_EQ(0, std::memcmp(x[i].second->raw_data(), y[i].second->raw_data(),
                                     x[i].second->nbytes()))
                << x[i].first;
        }
    }
}

// Token-by-token generation through the KV cache (softmax layer) and the Sherman–Morrison state
// (ridge layer) gives the sequence form's logits; a spectral cache whose block never fills is
// the exact cache; learned positions past max_seq_len are refused.
TEST(MambaModelStep, AttentionAndRidgeLayersMatchTheSequenceForm) {
    for (const std::string positions : {"rotary", "learned"}) {
        const MambaModel model = attention_model(6, positions, DType::F32);
        const Tensor tokens = ids({2, 6}, {1, 4, 2, 6, 0, 3, 3, 5, 1, 2, 2, 0});
        const Tensor logits = model.logits(tokens);
        KvCacheOptions spectral;
        spectral.kind = "spectral";
        spectral.block_size = 8;
        spectral.k_rank_keys = spectral.k_rank_values = 1;
        for (const KvCacheOptions& cache : {KvCacheOptions{}, spectral}) {
            MambaState state = model.initial_state(2, cache);
            for (std::int64_t t = 0; t < 6; ++t) {
                const Tensor step = model.step(tokens.select(1, t).contiguous(), state);
                for (std::int64_t b = 0; b < 2; ++b) {
                    for (std::int64_t v = 0; v < 7; ++v) {
                        EXPECT_NEAR(step.at<float>({b, v}), logits.at<float>({b, t, v}), 2e-5)
                            << positions << " t " << t;
                    }
                }
            }
            if (positions == "learned") {
                EXPECT_THROW(model.step(tokens.select(1, 0).contiguous(), state), Error);
            }
        }
    }
}

// The distillation loss (1 − α) CE + α T² KL(p_teacher ‖ p_student) written out from logits(),
// with a position without teacher targets and one with a padded (−1) id; its gradient for every
// weight matches central differences.
TEST(MambaModelLoss, DistillationValueAndGradient) {
    const MambaModel model = tiny_model(2, 0, false);
    const Tensor tokens = ids({1, 4}, {1, 4, 2, 6});
    const Tensor targets = ids({1, 4}, {4, 2, 6, 0});
    MambaModel::Distillation teacher;
    teacher.ids = ids({1, 4, 3}, {4, 1, 0, /**/ 2, 5, -1, /**/ -1, -1, -1, /**/ 0, 6, 3});
    teacher.logits = Tensor({1, 4, 3}, DType::F32);
    const std::vector<float> tl = {2.0f, 0.5f, -1.0f, 1.5f, 1.0f, 0.0f, 0, 0, 0, 0.3f, 0.2f, 0.1f};
    std::copy(tl.begin(), tl.end(), teacher.logits.data<float>());
    teacher.temperature = 2.0;
    teacher.alpha = 0.3;
    const Tensor logits = model.logits(tokens);
    double expected = 0;
    for (int r = 0; r < 4; ++r) {
        const double* z = logits.data<double>() + r * 7;
        double sum = 0, sum_t = 0;
        for (int v = 0; v < 7; ++v) sum += std::exp(z[v]), sum_t += std::exp(z[v] / 2.0);
        const double ce = std::log(sum) - z[targets.data<std::int64_t>()[r]];
        if (r == 2) {
            expected += ce;
            continue;
        }
        double teacher_sum = 0, kl = 0;
        for (int j = 0; j < 3; ++j) {
            if (teacher.ids.data<std::int64_t>()[r * 3 + j] >= 0)
                teacher_sum += std::exp(tl[r * 3 + j] / 2.0);
        }
        for (int j = 0; j < 3; ++j) {
            const std::int64_t id = teacher.ids.data<std::int64_t>()[r * 3 + j];
            if (id < 0) continue;
            const double pt = std::exp(tl[r * 3 + j] / 2.0) / teacher_sum;
            kl += pt * (std::log(pt) - (z[id] / 2.0 - std::log(sum_t)));
        }
        expected += 0.7 * ce + 0.3 * 4.0 * kl;
    }
    expected /= 4;
    MambaWeights grads = model.weights().zeros_like();
    EXPECT_NEAR(model.loss(tokens, targets, teacher, &grads), expected, 1e-12);
    expect_gradients_match_differences(
        model, grads, [&](const MambaModel& m) { return m.loss(tokens, targets, teacher); },
        "distillation");
    teacher.alpha = 1.5;
    EXPECT_ERROR_CONTAINS(model.loss(tokens, targets, teacher), "alpha");
}

// Recomputing each layer in the backward (gradient checkpointing) gives the same loss and the
// same gradients bit for bit, and a 6-layer float32 model's peak tensor memory during loss and
// backward falls below 60 % of keeping every layer's activations.
TEST(MambaModelLoss, RecomputedLayersGiveTheSameGradientsInLessMemory) {
    for (const auto& [ffn_dim, bk] :
         {std::pair{0, false}, std::pair{5, false}, std::pair{0, true}}) {
        MambaModel model = tiny_model(3, ffn_dim, bk);
        const Tensor tokens = ids({2, 5}, {1, 4, 2, 6, 0, 3, 3, 5, 1, 2});
        const Tensor targets = ids({2, 5}, {4, 2, 6, 0, 1, 3, 5, 1, 2, 6});
        MambaWeights kept = model.weights().zeros_like(), recomputed = kept.zeros_like();
        const double a = model.loss(tokens, targets, &kept);
        model.set_recompute_layers(true);
        const double b = model.loss(tokens, targets, &recomputed);
        EXPECT_EQ(a, b);
        const auto x = kept.named_tensors(), y = recomputed.named_tensors();
        for (std::size_t i = 0; i < x.size(); ++i) {
            EXPECT_EQ(0, std::memcmp(x[i].second->raw_data(), y[i].second->raw_data(),
                                     x[i].second->nbytes()))
                << x[i].first;
        }
    }
    MambaConfig c = mamba_config(64, 6, 50);
    MambaInitOptions init;
    MambaModel model(c, init_mamba_weights(c, init));
    const Tensor tokens = Rng(1).uniform({4, 128}, DType::F64, 0, 50).to(DType::I64);
    const Tensor targets = Rng(2).uniform({4, 128}, DType::F64, 0, 50).to(DType::I64);
    const auto peak = [&](bool recompute) {
        model.set_recompute_layers(recompute);
        MambaWeights grads = model.weights().zeros_like();
        reset_tensor_bytes_peak();
        const std::int64_t before = tensor_bytes_live();
        model.loss(tokens, targets, &grads);
        return tensor_bytes_peak() - before;
    };
    const std::int64_t full = peak(false), recomputed = peak(true);
    EXPECT_LT(static_cast<double>(recomputed), 0.6 * static_cast<double>(full))
        << recomputed << " vs " << full;
}

// Dropout with a fixed (seed, step) draws fixed masks, so the loss is a function of the weights
// whose gradient matches central differences (mixer and feed-forward masks); p = 0 is the plain
// loss; another step draws other masks; recomputed layers reproduce the same gradients.
TEST(MambaModelLoss, DropoutIsDeterministicAndDifferentiable) {
    MambaModel model = tiny_model(4, 5, false);
    const Tensor tokens = ids({2, 5}, {1, 4, 2, 6, 0, 3, 3, 5, 1, 2});
    const Tensor targets = ids({2, 5}, {4, 2, 6, 0, 1, 3, 5, 1, 2, 6});
    const double plain = model.loss(tokens, targets);
    const auto with_dropout = [&](const MambaModel& m, std::uint64_t step) {
        MambaModel d = m;
        d.set_dropout(0.3, 7, step);
        return d.loss(tokens, targets);
    };
    const double dropped = with_dropout(model, 2);
    EXPECT_NE(dropped, plain);
    EXPECT_EQ(dropped, with_dropout(model, 2));
    EXPECT_NE(dropped, with_dropout(model, 3));
    model.set_dropout(0.3, 7, 2);
    MambaWeights grads = model.weights().zeros_like(), recomputed = grads.zeros_like();
    EXPECT_EQ(model.loss(tokens, targets, &grads), dropped);
    expect_gradients_match_differences(
        model, grads, [&](const MambaModel& m) { return with_dropout(m, 2); }, "dropout");
    model.set_recompute_layers(true);
    model.loss(tokens, targets, &recomputed);
    const auto x = grads.named_tensors(), y = recomputed.named_tensors();
    for (std::size_t i = 0; i < x.size(); ++i) {
        EXPECT_EQ(
            0, std::memcmp(x[i].second->raw_data(), y[i].second->raw_data(), x[i].second->nbytes()))
            << x[i].first;
    }
    model.set_dropout(0);
    EXPECT_EQ(model.loss(tokens, targets), plain);
    EXPECT_ERROR_CONTAINS(model.set_dropout(1.0), "p");
}

TEST(MambaModelLoss, BadTargetsAreNamed) {
    const MambaModel model = tiny_model(2);
    const Tensor tokens = ids({1, 3}, {1, 2, 3});
    EXPECT_ERROR_CONTAINS(model.loss(tokens, ids({1, 3}, {1, 9, 2})), "targets");
    EXPECT_ERROR_CONTAINS(model.loss(tokens, ids({1, 2}, {1, 2})), "targets");
    EXPECT_ERROR_CONTAINS(model.loss(ids({1, 3}, {1, 7, 0}), ids({1, 3}, {1, 2, 3})),
                          "token ids in [0, 7)");
}

}  // namespace
}  // namespace structseq
