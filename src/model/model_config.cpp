#include "structseq/model/model_config.h"

#include "structseq/core/error.h"
#include "structseq/model/mamba_init.h"

namespace structseq {

io::ConfigField model_config_section() {
    using F = io::ConfigField;
    return F::section({
        {"vocab_size", F::integer(50000).at_least(1)},
        {"hidden_dim", F::integer(768).at_least(1)},
        {"state_dim", F::integer(128).at_least(1)},
        {"ffn_dim", F::integer(2048).at_least(0)},
        {"num_layers", F::integer(12).at_least(1)},
        {"max_seq_len", F::integer(1024).at_least(1)},
        {"dropout", F::number(0.1).at_least(0).at_most(1)},
        {"activation", F::choice("gelu", {"gelu", "silu", "relu"})},
        {"selective_param_class", F::choice("sparse", {"dense", "sparse", "low_rank"})},
        {"sparsity_level", F::number(0.9).at_least(0).at_most(0.999)},
        {"use_parallel_scan", F::boolean(true)},
        {"mixer", F::strings({"ssm"})},
        {"bk_channels", F::integer(0).at_least(0)},
        {"attention_heads", F::integer(0).at_least(0)},
        {"positions", F::choice("rotary", {"rotary", "learned"})},
        {"expand", F::integer(2).at_least(1)},
        {"d_conv", F::integer(4).at_least(1)},
        {"dt_rank", F::integer(0).at_least(0)},
        {"low_rank_dim", F::integer(0).at_least(0)},
        {"discretization", F::choice("zoh", {"zoh", "bilinear"})},
        {"a_init", F::choice("s4d_real", {"s4d_real", "legs", "legt", "fout"})},
        {"norm_eps", F::number(1e-5).greater_than(0)},
    });
}

LanguageModelConfig language_model_config(const io::Config& config) {
    LanguageModelConfig c;
    MambaConfig& m = c.mamba;
    m.vocab_size = config.integer("model.vocab_size");
    m.d_model = config.integer("model.hidden_dim");
    m.d_state = config.integer("model.state_dim");
    m.ffn_dim = config.integer("model.ffn_dim");
    m.n_layer = config.integer("model.num_layers");
    m.activation = config.string("model.activation");
    m.selective_param_class = config.string("model.selective_param_class");
    m.sparsity_level = config.number("model.sparsity_level");
    m.d_inner = config.integer("model.expand") * m.d_model;
    m.d_conv = config.integer("model.d_conv");
    m.dt_rank = config.integer("model.dt_rank") > 0 ? config.integer("model.dt_rank")
                                                    : default_dt_rank(m.d_model);
    m.low_rank_dim = config.integer("model.low_rank_dim");
    m.discretization = config.string("model.discretization");
    m.norm_eps = config.number("model.norm_eps");
    c.max_seq_len = config.integer("model.max_seq_len");
    c.dropout = config.number("model.dropout");
    c.use_parallel_scan = config.boolean("model.use_parallel_scan");
    c.a_init = config.string("model.a_init");
    const std::vector<std::string>& mixers = config.strings("model.mixer");
    check_argument(mixers.size() == 1 || static_cast<std::int64_t>(mixers.size()) == m.n_layer,
                   "model config", "model.mixer", std::to_string(mixers.size()) + " names",
                   "one name, or one per layer (num_layers = " + std::to_string(m.n_layer) + ")");
    for (std::int64_t l = 0; l < m.n_layer; ++l) {
        const std::string& name =
            mixers.size() == 1 ? mixers[0] : mixers[static_cast<std::size_t>(l)];
        check_argument(name == "ssm" || name == "bk" || name == "attention" || name == "ridge",
                       "model config", "model.mixer[" + std::to_string(l) + "]", name,
                       "ssm, bk, attention or ridge");
        m.mixers.push_back(name);
    }
    m.bk_channels = config.integer("model.bk_channels");
    m.attention_heads = config.integer("model.attention_heads");
    m.positions = config.string("model.positions");
    m.max_seq_len = c.max_seq_len;
    return c;
}

MambaModel init_language_model(const LanguageModelConfig& config, std::uint64_t seed) {
    MambaInitOptions options;
    options.a_init = config.a_init;
    options.seed = seed;
    return MambaModel(config.mamba, init_mamba_weights(config.mamba, options));
}

}  // namespace structseq
