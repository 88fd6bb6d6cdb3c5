#include "structseq/model/model_config.h"

#include "test_util.h"

#include <cmath>

namespace structseq {
namespace {

io::Config parse(const std::string& yaml) {
    return io::parse_config(yaml, io::ConfigField::section({{"model", model_config_section()}}),
                            "config.yaml");
}

TEST(ModelConfig, SeedDefaultsAndKeys) {
    const LanguageModelConfig c = language_model_config(parse(""));
    EXPECT_EQ(c.mamba.vocab_size, 50000);
    EXPECT_EQ(c.mamba.d_model, 768);
    EXPECT_EQ(c.mamba.d_state, 128);
    EXPECT_EQ(c.mamba.ffn_dim, 2048);
    EXPECT_EQ(c.mamba.n_layer, 12);
    EXPECT_EQ(c.mamba.d_inner, 1536);
    EXPECT_EQ(c.mamba.dt_rank, 48);
    EXPECT_EQ(c.mamba.activation, "gelu");
    EXPECT_EQ(c.mamba.selective_param_class, "sparse");
    EXPECT_EQ(c.mamba.sparsity_level, 0.9);
    EXPECT_EQ(c.max_seq_len, 1024);
    EXPECT_EQ(c.dropout, 0.1);
    EXPECT_TRUE(c.use_parallel_scan);
    EXPECT_EQ(c.mamba.mixers, std::vector<std::string>(12, "ssm"));
}

// A small model from YAML, a BK mixer in the middle: shapes follow the keys, the loss starts
// near log(vocab).
TEST(ModelConfig, BuildsTheModelItDescribes) {
    const LanguageModelConfig c = language_model_config(parse(
        "model:\n  vocab_size: 97\n  hidden_dim: 32\n  state_dim: 8\n  ffn_dim: 48\n"
        "  num_layers: 3\n  dropout: 0\n  selective_param_class: low_rank\n  low_rank_dim: 4\n"
        "  discretization: bilinear\n  a_init: legt\n  mixer: [ssm, bk, ssm]\n"
        "  bk_channels: 5\n"));
    const MambaModel model = init_language_model(c, 7);
    const MambaWeights& w = model.weights();
    EXPECT_EQ(w.embedding.shape(), (Shape{97, 32}));
    EXPECT_EQ(w.layers.size(), 3u);
    EXPECT_EQ(w.layers[2].mixer.A_log.shape(), (Shape{64, 8}));
    EXPECT_EQ(w.layers[2].mixer.in_proj.U.shape(), (Shape{128, 4}));
    EXPECT_EQ(w.layers[1].bk.out_proj.shape(), (Shape{32, 10}));  // 2 · bk_channels features
    EXPECT_FALSE(w.layers[1].mixer.in_proj.defined());
    EXPECT_EQ(w.layers[0].ffn.fc1.shape(), (Shape{48, 32}));
    EXPECT_NEAR(w.layers[0].mixer.A_log.data<float>()[1], std::log(1.5), 1e-6);  // LegT: n + ½
    EXPECT_EQ(model.config().discretization, "bilinear");
    Tensor tokens({1, 12}, DType::I64), targets({1, 12}, DType::I64);
    for (std::int64_t t = 0; t < 12; ++t) {
        tokens.data<std::int64_t>()[t] = (5 * t) % 97;
        targets.data<std::int64_t>()[t] = (5 * t + 5) % 97;
    }
    EXPECT_NEAR(model.loss(tokens, targets), std::log(97.0), 0.1);
}

TEST(ModelConfig, BadSectionsAreNamed) {
    EXPECT_ERROR_CONTAINS(parse("model:\n  hidden_dims: 3\n"), "hidden_dim");
    EXPECT_ERROR_CONTAINS(
        language_model_config(parse("model:\n  num_layers: 2\n  mixer: [ssm, ssm, ssm]\n")),
        "model.mixer");
    EXPECT_ERROR_CONTAINS(language_model_config(parse("model:\n  mixer: lstm\n")),
                          "model.mixer[0]");
    EXPECT_ERROR_CONTAINS(parse("model:\n  selective_param_class: banded\n"),
                          "selective_param_class");
}

}  // namespace
}  // namespace structseq
