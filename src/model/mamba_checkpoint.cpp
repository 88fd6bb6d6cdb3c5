#include "structseq/model/mamba_checkpoint.h"

#include "structseq/core/error.h"
#include "structseq/io/safetensors.h"
#include "structseq/io/torch_checkpoint.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <utility>

namespace structseq {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json read_json(const fs::path& path) {
    std::ifstream in(path);
    if (!in) fail("{}: cannot be read", path.string());
    try {
        return json::parse(in);
    } catch (const json::exception& e) {
        fail("{}: not valid JSON ({})", path.string(), e.what());
    }
}

// An integer config key, or `fallback` when absent; anything else is an Error.
std::int64_t integer_key(const json& config, const std::string& key, std::int64_t fallback,
                         const fs::path& file) {
    if (!config.contains(key) || config[key].is_null()) return fallback;
    if (!config[key].is_number_integer()) {
        fail("{}: {} is {}, expected an integer", file.string(), key, config[key].dump());
    }
    return config[key].get<std::int64_t>();
}

std::int64_t required_integer(const json& config, const std::string& key, const fs::path& file) {
    if (!config.contains(key)) fail("{}: missing key {}", file.string(), key);
    return integer_key(config, key, 0, file);
}

bool boolean_key(const json& config, const std::string& key, bool fallback, const fs::path& file) {
    if (!config.contains(key) || config[key].is_null()) return fallback;
    if (!config[key].is_boolean()) {
        fail("{}: {} is {}, expected true or false", file.string(), key, config[key].dump());
    }
    return config[key].get<bool>();
}

// dt_rank: an integer or "auto" (⌈d_model / 16⌉).
std::int64_t dt_rank_key(const json& config, const std::string& key, std::int64_t d_model,
                         const fs::path& file) {
    if (config.contains(key) && config[key].is_string() && config[key] == "auto") {
        return default_dt_rank(d_model);
    }
    return integer_key(config, key, default_dt_rank(d_model), file);
}

// The tensors of a directory: one model.safetensors, the shards of an index, or
// pytorch_model.bin.
class TensorSource {
public:
    explicit TensorSource(const fs::path& directory) {
        const fs::path single = directory / "model.safetensors";
        const fs::path index = directory / "model.safetensors.index.json";
        if (fs::exists(single)) {
            files_.emplace(single.string(), std::make_shared<io::SafetensorsFile>(
                                                io::SafetensorsFile::open(single.string())));
            for (const auto& e : files_.begin()->second->entries())
                where_[e.name] = single.string();
        } else if (fs::exists(index)) {
            const json map = read_json(index);
            if (!map.contains("weight_map") || !map["weight_map"].is_object()) {
                fail("{}: expected a weight_map object", index.string());
            }
            for (const auto& [name, file] : map["weight_map"].items()) {
                const std::string path = (directory / file.get<std::string>()).string();
                if (!files_.count(path)) {
                    files_.emplace(path, std::make_shared<io::SafetensorsFile>(
                                             io::SafetensorsFile::open(path)));
                }
                where_[name] = path;
            }
        } else if (fs::exists(directory / "pytorch_model.bin")) {
            description_ = (directory / "pytorch_model.bin").string();
            for (auto& [name, tensor] : io::load_torch_checkpoint(description_)) {
                torch_.emplace(name, std::move(tensor));
                where_[name] = description_;
            }
            return;
        } else {
            fail("{}: no model.safetensors, model.safetensors.index.json or pytorch_model.bin",
                 directory.string());
        }
        description_ = files_.size() == 1 ? files_.begin()->first : index.string();
    }

    bool has(const std::string& name) const { return where_.count(name) > 0; }

    // float32, checked against `shape`.
    Tensor load(const std::string& name, const Shape& shape) const {
        const auto it = where_.find(name);
        if (it == where_.end()) fail("{}: missing tensor {}", description_, name);
        if (const auto t = torch_.find(name); t != torch_.end()) {
            if (t->second.shape() != shape) {
                fail("{}: tensor {} has shape {}, expected {}", it->second, name,
                     shape_string(t->second.shape()), shape_string(shape));
            }
            return t->second.to(DType::F32);
        }
        const io::SafetensorsFile& file = *files_.at(it->second);
        const io::SafetensorsEntry& entry = file.entry(name);
        if (entry.shape != shape) {
            fail("{}: tensor {} has shape {}, expected {}", it->second, name,
                 shape_string(entry.shape), shape_string(shape));
        }
        return file.load(name, DType::F32);
    }

private:
    std::map<std::string, std::shared_ptr<io::SafetensorsFile>> files_;
    std::map<std::string, Tensor> torch_;  // pytorch_model.bin, read whole
    std::map<std::string, std::string> where_;
    std::string description_;
};

}  // namespace

MambaModel load_mamba_checkpoint(const std::string& directory_name) {
    const fs::path directory(directory_name);
    if (!fs::is_directory(directory)) fail("{}: not a directory", directory_name);
    const fs::path config_path = directory / "config.json";
    if (!fs::exists(config_path)) fail("{}: no config.json", directory_name);
    const json cfg = read_json(config_path);
    MambaConfig c;
    std::string embedding_name;
    bool tied = true;
    bool in_bias = false, conv_bias = true;
    if (cfg.contains("d_model")) {  // state-spaces/mamba-*
        c.d_model = required_integer(cfg, "d_model", config_path);
        c.n_layer = required_integer(cfg, "n_layer", config_path);
        const std::int64_t vocab = required_integer(cfg, "vocab_size", config_path);
        const std::int64_t multiple = integer_key(cfg, "pad_vocab_size_multiple", 8, config_path);
        if (multiple < 1) fail("{}: pad_vocab_size_multiple must be >= 1", config_path.string());
        c.vocab_size = (vocab + multiple - 1) / multiple * multiple;
        if (!boolean_key(cfg, "rms_norm", true, config_path)) {
            fail("{}: rms_norm = false (LayerNorm) checkpoints are not supported",
                 config_path.string());
        }
        const json ssm =
            cfg.contains("ssm_cfg") && cfg["ssm_cfg"].is_object() ? cfg["ssm_cfg"] : json::object();
        if (ssm.contains("layer") && ssm["layer"] != "Mamba1") {
            fail("{}: ssm_cfg.layer = {} is not supported (Mamba1 only)", config_path.string(),
                 ssm["layer"].dump());
        }
        c.d_state = integer_key(ssm, "d_state", 16, config_path);
        c.d_conv = integer_key(ssm, "d_conv", 4, config_path);
        c.d_inner = integer_key(ssm, "expand", 2, config_path) * c.d_model;
        c.dt_rank = dt_rank_key(ssm, "dt_rank", c.d_model, config_path);
        in_bias = boolean_key(ssm, "bias", false, config_path);
        conv_bias = boolean_key(ssm, "conv_bias", true, config_path);
        embedding_name = "backbone.embedding.weight";
    } else if (cfg.contains("hidden_size")) {  // transformers MambaForCausalLM
        c.d_model = required_integer(cfg, "hidden_size", config_path);
        c.n_layer = required_integer(cfg, "num_hidden_layers", config_path);
        c.vocab_size = required_integer(cfg, "vocab_size", config_path);
        c.d_state = integer_key(cfg, "state_size", 16, config_path);
        c.d_conv = integer_key(cfg, "conv_kernel", 4, config_path);
        c.d_inner =
            integer_key(cfg, "intermediate_size",
                        integer_key(cfg, "expand", 2, config_path) * c.d_model, config_path);
        c.dt_rank = dt_rank_key(cfg, "time_step_rank", c.d_model, config_path);
        if (cfg.contains("layer_norm_epsilon") && cfg["layer_norm_epsilon"].is_number()) {
            c.norm_eps = cfg["layer_norm_epsilon"].get<double>();
        }
        in_bias = boolean_key(cfg, "use_bias", false, config_path);
        conv_bias = boolean_key(cfg, "use_conv_bias", true, config_path);
        tied = boolean_key(cfg, "tie_word_embeddings", true, config_path);
        embedding_name = "backbone.embeddings.weight";
    } else {
        fail(
            "{}: neither a state-spaces Mamba config (d_model) nor a transformers MambaConfig "
            "(hidden_size)",
            config_path.string());
    }
    if (c.d_model < 1 || c.n_layer < 1 || c.vocab_size < 1 || c.d_state < 1 || c.d_conv < 1 ||
        c.d_inner < 1 || c.dt_rank < 1) {
        fail(
            "{}: sizes must be positive (d_model {}, layers {}, vocab {}, d_state {}, d_conv {}, "
            "d_inner {}, dt_rank {})",
            config_path.string(), c.d_model, c.n_layer, c.vocab_size, c.d_state, c.d_conv,
            c.d_inner, c.dt_rank);
    }
    const TensorSource source(directory);
    MambaWeights w;
    w.embedding = source.load(embedding_name, {c.vocab_size, c.d_model});
    w.norm_f = source.load("backbone.norm_f.weight", {c.d_model});
    if (!tied) w.head = source.load("lm_head.weight", {c.vocab_size, c.d_model});
    for (std::int64_t i = 0; i < c.n_layer; ++i) {
        const std::string p = "backbone.layers." + std::to_string(i) + ".";
        const std::string m = p + "mixer.";
        MambaLayerWeights l;
        l.norm = source.load(p + "norm.weight", {c.d_model});
        l.mixer.in_proj = source.load(m + "in_proj.weight", {2 * c.d_inner, c.d_model});
        if (in_bias) l.mixer.in_proj_bias = source.load(m + "in_proj.bias", {2 * c.d_inner});
        l.mixer.conv_weight = source.load(m + "conv1d.weight", {c.d_inner, 1, c.d_conv})
                                  .reshape({c.d_inner, c.d_conv});
        if (conv_bias) l.mixer.conv_bias = source.load(m + "conv1d.bias", {c.d_inner});
        l.mixer.x_proj = source.load(m + "x_proj.weight", {c.dt_rank + 2 * c.d_state, c.d_inner});
        l.mixer.dt_proj = source.load(m + "dt_proj.weight", {c.d_inner, c.dt_rank});
        l.mixer.dt_proj_bias = source.load(m + "dt_proj.bias", {c.d_inner});
        l.mixer.A_log = source.load(m + "A_log", {c.d_inner, c.d_state});
        l.mixer.D = source.load(m + "D", {c.d_inner});
        l.mixer.out_proj = source.load(m + "out_proj.weight", {c.d_model, c.d_inner});
        if (in_bias) l.mixer.out_proj_bias = source.load(m + "out_proj.bias", {c.d_model});
        w.layers.push_back(std::move(l));
    }
    return MambaModel(c, std::move(w));
}

}  // namespace structseq
