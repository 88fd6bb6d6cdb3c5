#pragma once
// The `model:` section of a YAML configuration: seed 002's keys with its defaults
//   vocab_size 50000, hidden_dim 768, state_dim 128, ffn_dim 2048, num_layers 12,
//   max_seq_len 1024, dropout 0.1, activation gelu, selective_param_class sparse,
//   sparsity_level 0.9, use_parallel_scan true
// and structseq's own: mixer ("ssm", "bk", "attention" or "ridge", or one name per layer),
// bk_channels (0: hidden_dim), attention_heads (0: hidden_dim / 64), positions (rotary, learned),
// expand 2, d_conv 4, dt_rank
// (0: ⌈hidden_dim/16⌉), low_rank_dim (0: ⌈hidden_dim/4⌉), discretization zoh, a_init s4d_real,
// norm_eps 1e-5. `language_model_config` turns a loaded section into a MambaConfig and the
// per-layer mixers; `init_language_model` draws its initial weights.
//
// dropout applies in training (MambaModel::set_dropout, set by the trainer every step). The
// model's scan is parallel over channel blocks; use_parallel_scan selects the time-parallel mode
// of the selective_scan API, not of the model.

#include "structseq/io/config.h"
#include "structseq/model/mamba_model.h"

#include <cstdint>
#include <string>
#include <vector>

namespace structseq {

// The fields of the `model:` section (for a schema's top level: {"model", section}).
io::ConfigField model_config_section();

struct LanguageModelConfig {
    MambaConfig mamba;  // mamba.mixers: one name per layer
    std::int64_t max_seq_len = 1024;
    double dropout = 0.1;
    bool use_parallel_scan = true;
    std::string a_init = "s4d_real";
};

// Reads `model.*` of a configuration loaded with model_config_section(); errors name the key.
LanguageModelConfig language_model_config(const io::Config& config);

// A model with initial weights (mamba_init.h) for the configuration.
MambaModel init_language_model(const LanguageModelConfig& config, std::uint64_t seed);

}  // namespace structseq
