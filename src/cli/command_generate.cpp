// structseq generate [--config C] --model-dir D [--checkpoint best|latest|PATH] --prompt P
//   [--max-length N] [--temperature T] [--top-k K] [--top-p P] [--repetition-penalty R]
//   [--output-file F] [--seed S] [--kv-cache exact|spectral [--block-size B]
//   [--k-rank-keys R] [--k-rank-values R]] [--weights float32|bfloat16]
// The prompt runs through the recurrent state once; each new token costs one step
// (model/text_generation.h).

#include "commands.h"

#include "structseq/core/error.h"
#include "structseq/data/utf8_stream.h"
#include "structseq/io/atomic_file.h"
#include "structseq/model/mamba_checkpoint.h"
#include "structseq/model/sampling.h"
#include "structseq/model/text_generation.h"
#include "structseq/train/checkpoint.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace structseq::cli {

namespace {

struct GenerateOptions {
    std::string config;
    std::string model_dir;
    std::string checkpoint = "best";
    std::string prompt;
    std::int64_t max_length = 200;
    SamplingOptions sampling{0.8, 50, 0.9, 1.0};
    std::string output_file;
    std::uint64_t seed = 0;
    KvCacheOptions kv_cache;
    std::string weights = "float32";
};

// The model-defining fields of a configuration, to compare --config with a checkpoint's.
std::string model_signature(const RunConfig& c) {
    const MambaConfig& m = c.model.mamba;
    return fmt::format(
        "vocab_size {}, hidden_dim {}, state_dim {}, num_layers {}, ffn_dim {}, d_inner {}, "
        "mixers {}, selective_param_class {}, attention_heads {}, positions {}, tokenizer {}",
        m.vocab_size, m.d_model, m.d_state, m.n_layer, m.ffn_dim, m.d_inner,
        fmt::join(m.mixers, ","), m.selective_param_class, m.attention_heads, m.positions,
        c.tokenizer);
}

// A model to generate with and its tokenizer: a run of `structseq train` (its checkpoint
// `which`), or a Hugging Face Mamba directory that carries a tokenizer.json.
struct Generator {
    std::string source;
    MambaModel model;
    std::unique_ptr<Tokenizer> tokenizer;
};

Generator open_generator(const GenerateOptions& o) {
    std::error_code error;
    if (!is_trained_model(o.model_dir) &&
        std::filesystem::exists(o.model_dir + "/config.json", error)) {  // Hugging Face
        if (!o.config.empty()) {
            fail(
                "--config applies to models trained by structseq; {} is a Hugging Face "
                "checkpoint with its own config.json",
                o.model_dir);
        }
        Generator g{o.model_dir, load_mamba_checkpoint(o.model_dir), load_tokenizer(o.model_dir)};
        if (g.tokenizer->vocab_size() > g.model.config().vocab_size) {
            fail("{}: the tokenizer has {} tokens, the model's vocabulary only {}", o.model_dir,
                 g.tokenizer->vocab_size(), g.model.config().vocab_size);
        }
        return g;
    }
    const std::string directory = find_checkpoint(o.model_dir, o.checkpoint);
    LoadedCheckpoint loaded = load_checkpoint(directory);
    if (!o.config.empty()) {
        const std::string given = model_signature(load_run_config(o.config));
        const std::string saved = model_signature(loaded.config);
        if (given != saved) {
            fail(
                "--config {} does not match the checkpoint {}: the config gives ({}), the "
                "checkpoint was trained with ({})",
                o.config, directory, given, saved);
        }
    }
    return {directory, std::move(loaded.model), std::move(loaded.tokenizer)};
}

int run_generate(const GenerateOptions& o) {
    check_sampling_options(o.sampling);
    Generator loaded = open_generator(o);
    apply_weights_option(loaded.model, o.weights);
    const std::vector<std::int64_t> prompt = loaded.tokenizer->encode(o.prompt);
    if (prompt.empty()) fail("--prompt: empty; give at least one character");
    // Byte-level models can emit malformed UTF-8: what is printed (and written) is made valid.
    Utf8Stream utf8;
    std::string text = utf8.push(o.prompt);
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
    GenerationOptions options;
    options.max_new_tokens = o.max_length;
    options.sampling = o.sampling;
    options.seed = o.seed;
    options.vocab = loaded.tokenizer->vocab_size();
    options.kv_cache = o.kv_cache;
    options.on_token = [&](std::int64_t id) {
        const std::string piece = utf8.push(loaded.tokenizer->decode(std::span(&id, 1)));
        text += piece;
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
    };
    const auto start = std::chrono::steady_clock::now();
    const GeneratedTokens generated = generate_tokens(loaded.model, prompt, options);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const std::string rest = utf8.finish() + "\n";
    text += rest;
    std::fputs(rest.c_str(), stdout);
    std::fflush(stdout);
    fmt::print(stderr, "{} tokens in {:.2f} s ({:.1f} tokens/s), checkpoint {}, {} weights{}\n",
               generated.tokens.size(), seconds,
               static_cast<double>(generated.tokens.size()) / seconds, loaded.source, o.weights,
               generated.kv_cache_bytes > 0
                   ? fmt::format(", {} KV cache {:.2f} MiB", o.kv_cache.kind,
                                 static_cast<double>(generated.kv_cache_bytes) / (1 << 20))
                   : std::string());
    if (!o.output_file.empty()) {
        io::write_file_atomic(o.output_file, text);
    }
    return 0;
}

}  // namespace

Command add_generate_command(CLI::App& parent) {
    CLI::App* app = parent.add_subcommand(
        "generate", "Generate text from a trained model directory, streaming tokens as they come");
    auto o = std::make_shared<GenerateOptions>();
    app->add_option("--config", o->config,
                    "Optional: a YAML configuration the checkpoint must match (the model "
                    "directory carries its own)");
    app->add_option("--model-dir", o->model_dir,
                    "A directory written by `structseq train`, or a Hugging Face Mamba "
                    "checkpoint directory with its tokenizer.json")
        ->required();
    app->add_option("--checkpoint", o->checkpoint,
                    "best (lowest validation loss), latest, or a checkpoint folder")
        ->capture_default_str();
    app->add_option("--prompt", o->prompt, "The text to continue")->required();
    app->add_option("--max-length", o->max_length, "Tokens to generate")
        ->check(CLI::Range(std::int64_t{0}, std::int64_t{1} << 30))
        ->capture_default_str();
    app->add_option("--temperature", o->sampling.temperature, "0 for greedy")
        ->check(CLI::Range(0.0, 1e6))
        ->capture_default_str();
    app->add_option("--top-k", o->sampling.top_k, "Keep the k most likely tokens (0: all)")
        ->check(CLI::Range(std::int64_t{0}, std::int64_t{1} << 30))
        ->capture_default_str();
    app->add_option("--top-p", o->sampling.top_p,
                    "Keep the most likely tokens up to this probability mass (1: all)")
        ->check(CLI::Range(1e-9, 1.0))
        ->capture_default_str();
    app->add_option("--repetition-penalty", o->sampling.repetition_penalty,
                    "Divide the logits of the last 64 tokens by this (1: off)")
        ->check(CLI::Range(1e-6, 1e6))
        ->capture_default_str();
    app->add_option("--output-file", o->output_file, "Also write prompt + text here (atomically)");
    app->add_option("--seed", o->seed, "Seed of the sampling draws")->capture_default_str();
    app->add_option("--kv-cache", o->kv_cache.kind,
                    "KV cache of softmax-attention layers: exact (float32) or spectral (full "
                    "blocks compressed by randomized SVD + int8)")
        ->check(CLI::IsMember({"exact", "spectral"}))
        ->capture_default_str();
    app->add_option("--block-size", o->kv_cache.block_size,
                    "Spectral cache: positions per compressed block")
        ->check(CLI::Range(2, 1 << 20))
        ->capture_default_str();
    app->add_option("--k-rank-keys", o->kv_cache.k_rank_keys,
                    "Spectral cache: rank of each block's keys")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app->add_option("--k-rank-values", o->kv_cache.k_rank_values,
                    "Spectral cache: rank of each block's values")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    add_weights_option(app, &o->weights);
    return {app, [o] { return run_generate(*o); }};
}

}  // namespace structseq::cli
