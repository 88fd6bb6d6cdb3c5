#include "structseq/core/float16.h"
#include "structseq/core/rng.h"
#include "structseq/model/mamba_init.h"

#include "test_util.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace structseq {
namespace {

double max_abs(const Tensor& t) {
    double m = 0;
    for (const double v : testing::values_of(t)) m = std::max(m, std::abs(v));
    return m;
}

MambaConfig config() {
    MambaConfig c;
    c.d_model = 64;
    c.n_layer = 4;
    c.vocab_size = 300;
    c.d_state = 5;
    c.d_conv = 4;
    c.d_inner = 128;
    c.dt_rank = 4;
    return c;
}

// Steps the model through tokens (batch, L) one position at a time from an empty state and
// returns the largest difference from logits(tokens), relative to the largest logit.
double step_error(const MambaModel& model, const Tensor& tokens) {
    const std::int64_t batch = tokens.dim(0), length = tokens.dim(1);
    const std::int64_t vocab = model.config().vocab_size;
    const std::vector<double> full = testing::values_of(model.logits(tokens));
    MambaState state = model.initial_state(batch);
    double worst = 0, largest = 0;
    for (std::int64_t t = 0; t < length; ++t) {
        const std::vector<double> step =
            testing::values_of(model.step(tokens.select(1, t).contiguous(), state));
        for (std::int64_t b = 0; b < batch; ++b) {
            for (std::int64_t v = 0; v < vocab; ++v) {
                const double expected = full[(b * length + t) * vocab + v];
                worst = std::max(worst, std::abs(step[b * vocab + v] - expected));
                largest = std::max(largest, std::abs(expected));
            }
        }
    }
    return worst / largest;
}

TEST(MambaInit, ALogFollowsTheChosenDiagonal) {
    const auto row = [](const char* name) {
        const std::vector<double> a = testing::values_of(mamba_a_log_init(name, 3, 5));
        EXPECT_EQ(a.size(), 15u);
        for (int n = 0; n < 5; ++n) EXPECT_EQ(a[10 + n], a[n]) << name;  // every row alike
        return std::vector<double>(a.begin(), a.begin() + 5);
    };
    const std::vector<double> s4d = row("s4d_real"), legs = row("legs"), legt = row("legt");
    const std::vector<double> fout = row("fout");
    for (int n = 0; n < 5; ++n) {
        EXPECT_NEAR(s4d[n], std::log(n + 1.0), 1e-15);
        EXPECT_NEAR(legs[n], std::log(n + 1.0), 1e-12);
        EXPECT_NEAR(legt[n], std::log(n + 0.5), 1e-12);
    }
    // FouT: −1, 0 (sine row, floored at −1e-4), −2, 0, −2.
    const std::vector<double> expected = {1.0, 1e-4, 2.0, 1e-4, 2.0};
    for (int n = 0; n < 5; ++n) EXPECT_NEAR(fout[n], std::log(expected[n]), 1e-12) << n;
    EXPECT_ERROR_CONTAINS(mamba_a_log_init("hippo", 3, 5), "a_init");
}

TEST(MambaInit, MatchesMambasDistributions) {
    const MambaConfig c = config();
    MambaInitOptions o;
    o.seed = 3;
    const MambaWeights w = init_mamba_weights(c, o);
    EXPECT_EQ(w.embedding.dtype(), DType::F32);
    const MambaMixerWeights& m = w.layers[1].mixer;
    // Uniform bounds reached but not exceeded.
    const auto bounded = [](const Tensor& t, double bound, const char* name) {
        EXPECT_LE(max_abs(t), bound * (1 + 1e-6)) << name;
        EXPECT_GE(max_abs(t), 0.95 * bound) << name;
    };
    bounded(m.in_proj.weight, 1 / std::sqrt(64.0), "in_proj");
    bounded(m.x_proj.weight, 1 / std::sqrt(128.0), "x_proj");
    bounded(m.out_proj.weight, 1 / std::sqrt(128.0) / 2, "out_proj");  // √n_layer = 2
    bounded(m.dt_proj, 0.5, "dt_proj");
    bounded(m.conv_weight, 0.5, "conv_weight");
    // softplus(bias) = Δ₀ ∈ [dt_min, dt_max], spread log-uniformly.
    std::vector<double> dt;
    for (const double b : testing::values_of(m.dt_proj_bias)) dt.push_back(std::log1p(std::exp(b)));
    const auto [lo, hi] = std::minmax_element(dt.begin(), dt.end());
    EXPECT_GE(*lo, 0.001 * (1 - 1e-5));
    EXPECT_LE(*hi, 0.1 * (1 + 1e-5));
    EXPECT_LT(*lo, 0.002);
    EXPECT_GT(*hi, 0.05);
    double mean_log = 0;
    for (const double v : dt) mean_log += std::log(v) / static_cast<double>(dt.size());
    EXPECT_NEAR(mean_log, (std::log(0.001) + std::log(0.1)) / 2, 0.4);
    // embedding N(0, 0.02²); D and norms 1.
    double sum2 = 0;
    for (const double v : testing::values_of(w.embedding)) sum2 += v * v;
    EXPECT_NEAR(std::sqrt(sum2 / static_cast<double>(w.embedding.numel())), 0.02, 0.001);
    for (const double v : testing::values_of(m.D)) ASSERT_EQ(v, 1.0);
    for (const double v : testing::values_of(w.layers[0].norm)) ASSERT_EQ(v, 1.0);
    EXPECT_FALSE(m.in_proj_bias.defined());
    EXPECT_FALSE(w.head.defined());
}

TEST(MambaInit, SameSeedSameWeightsAndAnUntrainedLossNearLogVocab) {
    const MambaConfig c = config();
    MambaInitOptions o;
    o.seed = 5;
    const MambaWeights a = init_mamba_weights(c, o), b = init_mamba_weights(c, o);
    EXPECT_EQ(testing::values_of(a.layers[2].mixer.x_proj.weight),
              testing::values_of(b.layers[2].mixer.x_proj.weight));
    o.seed = 6;
    EXPECT_NE(testing::values_of(a.layers[2].mixer.x_proj.weight),
              testing::values_of(init_mamba_weights(c, o).layers[2].mixer.x_proj.weight));
    // Small embeddings → near-uniform predictions: cross-entropy ≈ log(vocab).
    const MambaModel model(c, a);
    Tensor tokens({2, 16}, DType::I64), targets({2, 16}, DType::I64);
    for (std::int64_t k = 0; k < 32; ++k) {
        tokens.data<std::int64_t>()[k] = (7 * k) % c.vocab_size;
        targets.data<std::int64_t>()[k] = (11 * k + 3) % c.vocab_size;
    }
    EXPECT_NEAR(model.loss(tokens, targets), std::log(300.0), 0.05);
}

// With A discretized bilinearly and feed-forward blocks too, the recurrent step gives the
// sequence form's logits.
TEST(MambaInit, BilinearModelWithFeedForwardStepsLikeItsSequenceForm) {
    MambaConfig c = config();
    c.discretization = "bilinear";
    c.ffn_dim = 48;
    MambaInitOptions o;
    o.a_init = "legt";
    o.dt_min = 0.05;  // steps large enough that bilinear and ZOH differ visibly
    o.dt_max = 0.5;
    const MambaModel model(c, init_mamba_weights(c, o));
    Tensor tokens({1, 9}, DType::I64);
    for (std::int64_t t = 0; t < 9; ++t)
        tokens.data<std::int64_t>()[t] = (37 * t + 5) % c.vocab_size;
    const double error = step_error(model, tokens);
    EXPECT_LT(error, 1e-4);
    const std::vector<double> full = testing::values_of(model.logits(tokens));
    MambaConfig zoh = c;
    zoh.discretization = "zoh";
    const std::vector<double> other =
        testing::values_of(MambaModel(zoh, init_mamba_weights(c, o)).logits(tokens));
    double differ = 0;
    double largest = 0;
    for (const double v : full) largest = std::max(largest, std::abs(v));
    for (std::size_t k = 0; k < full.size(); ++k)
        differ = std::max(differ, std::abs(other[k] - full[k]));
    EXPECT_GT(differ, 100 * error * largest);  // the discretizations differ far above rounding
    zoh.discretization = "euler";
    EXPECT_ERROR_CONTAINS(MambaModel(zoh, init_mamba_weights(c, o)), "discretization");
}

// Seed 002's selective parameterizations: structured in_proj, x_proj, out_proj with fewer
// parameters, an untrained loss still near log(vocab), and gradients for the stored factors.
TEST(MambaInit, SparseAndLowRankProjections) {
    const MambaConfig dense = config();
    const std::int64_t dense_count = MambaModel(dense, init_mamba_weights(dense)).parameter_count();
    Tensor tokens({2, 16}, DType::I64), targets({2, 16}, DType::I64);
    for (std::int64_t k = 0; k < 32; ++k) {
        tokens.data<std::int64_t>()[k] = (5 * k) % dense.vocab_size;
        targets.data<std::int64_t>()[k] = (13 * k + 1) % dense.vocab_size;
    }
    for (const char* name : {"sparse", "low_rank"}) {
        MambaConfig c = dense;
        c.selective_param_class = name;
        c.sparsity_level = 0.75;
        c.low_rank_dim = 8;
        const MambaModel model(c, init_mamba_weights(c));
        const Projection& in_proj = model.weights().layers[0].mixer.in_proj;
        EXPECT_EQ(in_proj.kind_name(), std::string(name) == "sparse" ? "block_sparse" : "low_rank");
        EXPECT_LT(model.parameter_count(), dense_count) << name;
        MambaWeights grads = model.weights().zeros_like();
        EXPECT_NEAR(model.loss(tokens, targets, &grads), std::log(300.0), 0.05) << name;
        // named_tensors: every parameter once, weights and gradients in the same order.
        MambaWeights copy = model.weights();
        const auto names = copy.named_tensors(), grad_names = grads.named_tensors();
        std::int64_t total = 0;
        ASSERT_EQ(names.size(), grad_names.size());
        for (std::size_t i = 0; i < names.size(); ++i) {
            EXPECT_EQ(names[i].first, grad_names[i].first);
            EXPECT_EQ(names[i].second->shape(), grad_names[i].second->shape());
            total += names[i].second->numel();
        }
        EXPECT_EQ(total, model.parameter_count());
        EXPECT_EQ(names[2].first, std::string(name) == "sparse" ? "layers.0.mixer.in_proj.blocks"
                                                                : "layers.0.mixer.in_proj.U");
        const Projection& g = grads.layers[0].mixer.in_proj;
        EXPECT_GT(max_abs(std::string(name) == "sparse" ? g.blocks : g.U), 0.0) << name;
    }
    MambaConfig bad = dense;
    bad.selective_param_class = "banded";
    EXPECT_ERROR_CONTAINS(init_mamba_weights(bad), "selective_param_class");
}

// Mamba and BK mixers mixed: the recurrent step (conv window and scan state for "ssm" layers,
// vectorized over the states; the last pivots for "bk" ones) gives the sequence form's logits.
TEST(MambaInit, HybridModelStepsLikeItsSequenceForm) {
    MambaConfig c = config();
    c.mixers = {"ssm", "bk", "ssm", "bk"};
    c.bk_channels = 24;
    c.d_state = 32;   // the step's vector path: N a multiple of 16 …
    c.d_inner = 120;  // … and a last block of 8 channels
    const MambaModel model(c, init_mamba_weights(c));
    EXPECT_TRUE(model.is_bk_layer(1));
    EXPECT_FALSE(model.is_bk_layer(2));
    EXPECT_EQ(model.weights().layers[3].bk.in_proj.shape(), (Shape{24, 64}));
    Tensor tokens({2, 8}, DType::I64);
    for (std::int64_t k = 0; k < 16; ++k)
        tokens.data<std::int64_t>()[k] = (31 * k + 2) % c.vocab_size;
    EXPECT_LT(step_error(model, tokens), 1e-4);
    MambaConfig wrong = c;
    wrong.mixers = {"ssm", "ssm", "ssm", "bk"};  // layer 1 holds BK weights
    EXPECT_ERROR_CONTAINS(MambaModel(wrong, init_mamba_weights(c)), "layers.1");
    wrong.mixers = {"ssm", "bk", "lstm", "bk"};
    EXPECT_ERROR_CONTAINS(MambaModel(wrong, init_mamba_weights(c)), "mixers[2]");
}

// One sequence with dense projections steps in one parallel region (model/dense_mixer_step.h):
// on 1, 2 and 3 threads (3 splits 16 channel blocks 5 + 5 + 6), with float32 and bfloat16
// weights and in_proj and out_proj biases, its steps give the sequence form's logits, and the
// same thread count gives the same bits twice.
TEST(MambaInit, OneSequenceStepsLikeItsSequenceFormOnEveryThreadCount) {
    MambaConfig c = config();
    c.d_model = 128;  // in_proj 512 × 128 (above 2^15 weights): threaded
    c.d_inner = 256;
    c.d_state = 16;  // the vectorized scan
    MambaWeights weights = init_mamba_weights(c);
    Rng rng(17);
    for (MambaLayerWeights& layer : weights.layers) {
        layer.mixer.in_proj_bias = rng.uniform({2 * c.d_inner}, DType::F32, -0.5, 0.5);
        layer.mixer.out_proj_bias = rng.uniform({c.d_model}, DType::F32, -0.5, 0.5);
    }
    const MambaModel model(c, weights);
    MambaModel quantized = model;
    quantized.quantize_weights_to_bfloat16();
    Tensor tokens({1, 9}, DType::I64);
    for (std::int64_t t = 0; t < 9; ++t)
        tokens.data<std::int64_t>()[t] = (41 * t + 7) % c.vocab_size;
    const auto steps = [&](const MambaModel& m) {
        MambaState state = m.initial_state(1);
        std::vector<double> all;
        for (std::int64_t t = 0; t < 9; ++t) {
            const std::vector<double> step =
                testing::values_of(m.step(tokens.select(1, t).contiguous(), state));
            all.insert(all.end(), step.begin(), step.end());
        }
        return all;
    };
    for (const int threads : {1, 2, 3}) {
        const testing::ThreadCount scope(threads);
        EXPECT_LT(step_error(model, tokens), 1e-4) << threads << " threads";
        EXPECT_LT(step_error(quantized, tokens), 1e-5) << threads << " threads";
        EXPECT_EQ(steps(model), steps(model)) << threads << " threads";
    }
}

TEST(MambaInit, RejectsBadOptions) {
    MambaInitOptions o;
    o.dt_min = 0.2;
    EXPECT_ERROR_CONTAINS(init_mamba_weights(config(), o), "dt_min");
    EXPECT_ERROR_CONTAINS(init_mamba_weights(config(), {}, DType::I64), "dtype");
}

// A model quantized to bfloat16 weights: its steps (bfloat16 GEMVs) give the sequence form's
// logits (GEMMs over the float32 weights rounded to the same values), for a batch of two; the
// quantized weights are bfloat16 values; the logits move by rounding only; step_weight_bytes
// counts 2 bytes for each quantized value; the float32 model it was copied from is untouched.
TEST(MambaInit, QuantizedModelStepsLikeItsSequenceForm) {
    const MambaConfig c = config();
    const MambaModel model(c, init_mamba_weights(c, MambaInitOptions{}));
    Tensor tokens({2, 7}, DType::I64);
    for (std::int64_t k = 0; k < tokens.numel(); ++k)
        tokens.data<std::int64_t>()[k] = (29 * k + 3) % c.vocab_size;
    const std::vector<double> before = testing::values_of(model.logits(tokens));
    MambaModel quantized = model;
    EXPECT_FALSE(quantized.bfloat16_weights());
    quantized.quantize_weights_to_bfloat16();
    EXPECT_TRUE(quantized.bfloat16_weights());
    EXPECT_LT(step_error(quantized, tokens), 1e-5);
    EXPECT_EQ(testing::values_of(model.logits(tokens)), before);
    const std::vector<double> after = testing::values_of(quantized.logits(tokens));
    double moved = 0, largest = 0;
    for (std::size_t k = 0; k < before.size(); ++k) {
        moved = std::max(moved, std::abs(after[k] - before[k]));
        largest = std::max(largest, std::abs(before[k]));
    }
    EXPECT_GT(moved / largest, 1e-5);
    EXPECT_LT(moved / largest, 2e-2);
    std::int64_t quantized_values = quantized.weights().embedding.numel();
    for (const MambaLayerWeights& layer : quantized.weights().layers) {
        const MambaMixerWeights& w = layer.mixer;
        quantized_values += w.in_proj.weight.numel() + w.x_proj.weight.numel() + w.dt_proj.numel() +
                            w.out_proj.weight.numel();
        for (const double v : testing::values_of(w.x_proj.weight)) {
            ASSERT_EQ(bfloat16_to_float(float_to_bfloat16(static_cast<float>(v))), v);
        }
    }
    EXPECT_EQ(quantized.step_weight_bytes(), 4 * model.parameter_count() - 2 * quantized_values);
    EXPECT_EQ(model.step_weight_bytes(), 4 * model.parameter_count());
    MambaModel wide(c, init_mamba_weights(c, MambaInitOptions{}, DType::F64));
    EXPECT_ERROR_CONTAINS(wide.quantize_weights_to_bfloat16(), "float32");
}

}  // namespace
}  // namespace structseq
