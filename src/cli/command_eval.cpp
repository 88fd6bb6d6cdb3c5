// structseq eval --model-dir DIR [--split val|test] [--weights float32|bfloat16]: a trained
// model's loss on its dataset split.
// structseq eval --model-dir DIR --tokens 1,2,3: runs a model on a token sequence and prints the
// statistics of the last position's logits and its most likely next tokens.

#include "commands.h"

#include "structseq/core/error.h"
#include "structseq/data/token_dataset.h"
#include "structseq/model/mamba_checkpoint.h"
#include "structseq/train/checkpoint.h"
#include "structseq/train/trainer.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

namespace structseq::cli {

namespace {

std::vector<std::int64_t> parse_tokens(const std::string& text) {
    std::vector<std::int64_t> tokens;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t end = std::min(text.find(',', start), text.size());
        const std::string item = text.substr(start, end - start);
        std::int64_t value = 0;
        const auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
        if (item.empty() || ec != std::errc() || ptr != item.data() + item.size()) {
            fail(
                "--tokens: '{}' is not a token id; expected comma-separated integers such as "
                "1,2,3",
                item);
        }
        tokens.push_back(value);
        start = end + 1;
    }
    return tokens;
}

struct EvalOptions {
    std::string model_dir;
    std::string tokens;
    std::string split = "val";
    std::string checkpoint = "best";
    int top_k = 5;
    std::string weights = "float32";
};

// Loss, perplexity and bits per byte of a trained model on its dataset's split.
int evaluate_on_split(const EvalOptions& o) {
    const std::string directory = find_checkpoint(o.model_dir, o.checkpoint);
    LoadedCheckpoint loaded = load_checkpoint(directory);
    apply_weights_option(loaded.model, o.weights);
    const TokenDataset data = load_run_dataset(loaded.config, *loaded.tokenizer, loaded.state.seed);
    const TokenWindows& split = o.split == "test" ? data.test : data.val;
    if (split.size() == 0) {
        fail("eval: the {} split is empty (dataset.{}_split is 0 in {}/config.yaml)", o.split,
             o.split, directory);
    }
    const SplitLoss r = evaluate_split(loaded.model, split, loaded.config.training.batch_size, 0);
    fmt::print("{} (step {}): {} split, {} windows of {} tokens, {} weights\n", directory,
               loaded.state.step, o.split, r.windows, split.length(), o.weights);
    fmt::print("loss {:.4f}, perplexity {:.3f}, {:.4f} bits per byte\n", r.loss, std::exp(r.loss),
               r.bits_per_byte);
    return 0;
}

int run_eval(const EvalOptions& o) {
    if (o.tokens.empty()) {
        if (is_trained_model(o.model_dir)) return evaluate_on_split(o);
        fail(
            "eval: --tokens is required for a Hugging Face checkpoint (e.g. --tokens 1,2,3); "
            "evaluation on a dataset split needs a model directory written by `structseq train`");
    }
    const std::vector<std::int64_t> ids = parse_tokens(o.tokens);
    MambaModel model = is_trained_model(o.model_dir)
                           ? load_checkpoint(find_checkpoint(o.model_dir, o.checkpoint)).model
                           : load_mamba_checkpoint(o.model_dir);
    apply_weights_option(model, o.weights);
    const MambaConfig& c = model.config();
    Tensor tokens({1, static_cast<std::int64_t>(ids.size())}, DType::I64);
    std::copy(ids.begin(), ids.end(), tokens.data<std::int64_t>());
    const Tensor logits = model.logits(tokens, /*last_only=*/true);
    const float* p = logits.data<float>();
    const std::int64_t v = c.vocab_size;
    double mean = 0, sq = 0;
    for (std::int64_t k = 0; k < v; ++k) mean += p[k];
    mean /= static_cast<double>(v);
    for (std::int64_t k = 0; k < v; ++k) sq += (p[k] - mean) * (p[k] - mean);
    const float top = *std::max_element(p, p + v);
    double z = 0;
    for (std::int64_t k = 0; k < v; ++k) z += std::exp(static_cast<double>(p[k] - top));
    fmt::print("{}: Mamba, {} layers, d_model {}, d_state {}, vocabulary {}, {:.1f} M parameters\n",
               o.model_dir, c.n_layer, c.d_model, c.d_state, v,
               static_cast<double>(model.parameter_count()) / 1e6);
    fmt::print(
        "{} tokens in; logits of the last position: mean {:.4f}, std {:.4f}, min {:.4f}, "
        "max {:.4f}\n",
        ids.size(), mean, std::sqrt(sq / static_cast<double>(v)), *std::min_element(p, p + v), top);
    std::vector<std::int64_t> order(static_cast<std::size_t>(v));
    std::iota(order.begin(), order.end(), 0);
    const auto k = std::min<std::int64_t>(o.top_k, v);
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](std::int64_t a, std::int64_t b) { return p[a] > p[b]; });
    fmt::print("next-token top-{}:\n", k);
    for (std::int64_t i = 0; i < k; ++i) {
        const std::int64_t t = order[static_cast<std::size_t>(i)];
        fmt::print("  {:>8}  logit {:>9.4f}  p {:.4f}\n", t, p[t],
                   std::exp(static_cast<double>(p[t] - top)) / z);
    }
    return 0;
}

}  // namespace

Command add_eval_command(CLI::App& parent) {
    CLI::App* app = parent.add_subcommand(
        "eval",
        "Evaluate a model: a trained one on its validation or test split (loss, perplexity, "
        "bits per byte), or any model on a token sequence (logits statistics, top next tokens)");
    auto o = std::make_shared<EvalOptions>();
    app->add_option("--model-dir", o->model_dir,
                    "A directory written by `structseq train`, or a Mamba checkpoint directory "
                    "(config.json + model.safetensors, state-spaces or transformers layout)")
        ->required();
    app->add_option("--tokens", o->tokens,
                    "Comma-separated token ids, e.g. 1,2,3 (without it, a trained model is "
                    "evaluated on its dataset's --split)");
    app->add_option("--split", o->split, "val or test: the split of a trained model's dataset")
        ->check(CLI::IsMember({"val", "test"}))
        ->capture_default_str();
    app->add_option("--checkpoint", o->checkpoint,
                    "For a trained model: best, latest or a checkpoint folder")
        ->capture_default_str();
    app->add_option("--top-k", o->top_k, "How many next tokens to list")
        ->check(CLI::Range(1, 1000))
        ->capture_default_str();
    add_weights_option(app, &o->weights);
    return {app, [o] { return run_eval(*o); }};
}

}  // namespace structseq::cli
