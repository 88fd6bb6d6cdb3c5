// structseq attention-map --model-dir D [--checkpoint best|latest|PATH] --prompt P [--layer L]
//   [--head H] --output F.svg
// The attention weights of one head of an "attention" or "ridge" layer of a trained model for a
// prompt, as an SVG heat map (model/attention_heatmap.h).

#include "commands.h"

#include "structseq/core/error.h"
#include "structseq/io/atomic_file.h"
#include "structseq/model/attention_heatmap.h"
#include "structseq/train/checkpoint.h"

#include <fmt/format.h>

#include <memory>
#include <span>
#include <string>
#include <vector>

namespace structseq::cli {

namespace {

struct AttentionMapOptions {
    std::string model_dir;
    std::string checkpoint = "best";
    std::string prompt;
    std::int64_t layer = -1;
    std::int64_t head = 0;
    std::string output;
};

int run_attention_map(const AttentionMapOptions& o) {
    const LoadedCheckpoint loaded = load_checkpoint(find_checkpoint(o.model_dir, o.checkpoint));
    const MambaModel& model = loaded.model;
    std::int64_t layer = o.layer;
    if (layer < 0) {
        for (std::int64_t l = 0; l < model.config().n_layer && layer < 0; ++l) {
            if (model.is_attention_layer(l)) layer = l;
        }
        if (layer < 0) fail("{}: the model has no attention or ridge layer", loaded.directory);
    }
    if (layer >= model.config().n_layer || !model.is_attention_layer(layer)) {
        fail("--layer {}: not an attention or ridge layer of {} (mixers {})", layer,
             loaded.directory, fmt::join(model.config().mixers, ", "));
    }
    const std::int64_t heads = attention_heads(model.config());
    if (o.head < 0 || o.head >= heads) {
        fail("--head {}: expected 0 … {} (the layer has {} heads)", o.head, heads - 1, heads);
    }
    const std::vector<std::int64_t> ids = loaded.tokenizer->encode(o.prompt);
    if (ids.empty()) fail("--prompt: empty; give at least one character");
    Tensor tokens({1, static_cast<std::int64_t>(ids.size())}, DType::I64);
    std::copy(ids.begin(), ids.end(), tokens.data<std::int64_t>());
    const Tensor alpha = model.attention_weights(tokens, layer).select(0, o.head);
    std::vector<std::string> labels;
    for (const std::int64_t id : ids) labels.push_back(loaded.tokenizer->decode(std::span(&id, 1)));
    const std::string kind = model.config().mixers[static_cast<std::size_t>(layer)];
    io::write_file_atomic(
        o.output, attention_heatmap_svg(
                      alpha, labels,
                      fmt::format("{} attention weights, layer {}, head {}", kind, layer, o.head)));
    fmt::print("layer {} ({}), head {}, {} tokens: {}\n", layer, kind, o.head, ids.size(),
               o.output);
    return 0;
}

}  // namespace

Command add_attention_map_command(CLI::App& parent) {
    CLI::App* app = parent.add_subcommand(
        "attention-map",
        "Render one head's attention weights for a prompt as an SVG heat map (a trained model's "
        "\"attention\" or \"ridge\" layer; ridge weights α = q_tᵀ M_t⁻¹ k_i can be negative)");
    auto o = std::make_shared<AttentionMapOptions>();
    app->add_option("--model-dir", o->model_dir, "A directory written by `structseq train`")
        ->required();
    app->add_option("--checkpoint", o->checkpoint, "best, latest or a checkpoint folder")
        ->capture_default_str();
    app->add_option("--prompt", o->prompt, "The text whose attention to show")->required();
    app->add_option("--layer", o->layer, "Layer index (default: the first attention layer)");
    app->add_option("--head", o->head, "Head index")->capture_default_str();
    app->add_option("--output", o->output, "The SVG file to write (atomically)")->required();
    return {app, [o] { return run_attention_map(*o); }};
}

}  // namespace structseq::cli
