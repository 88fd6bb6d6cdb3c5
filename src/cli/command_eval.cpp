// structseq eval --model-dir DIR --tokens 1,2,3: runs a model on a token sequence and prints the
// statistics of the last position's logits and its most likely next tokens.

#include "commands.h"

#include "structseq/core/error.h"
#include "structseq/model/mamba_checkpoint.h"

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
    int top_k = 5;
};

int run_eval(const EvalOptions& o) {
    if (o.tokens.empty()) {
        fail(
            "eval: --tokens is required (e.g. --tokens 1,2,3); evaluation on a dataset split "
            "needs a model trained by `structseq train`");
    }
    const std::vector<std::int64_t> ids = parse_tokens(o.tokens);
    const MambaModel model = load_mamba_checkpoint(o.model_dir);
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
        "Run a model directory on a token sequence: logits statistics and the top next "
        "tokens");
    auto o = std::make_shared<EvalOptions>();
    app->add_option("--model-dir", o->model_dir,
                    "A Mamba checkpoint directory (config.json + model.safetensors, state-spaces "
                    "or transformers layout)")
        ->required();
    app->add_option("--tokens", o->tokens, "Comma-separated token ids, e.g. 1,2,3");
    app->add_option("--top-k", o->top_k, "How many next tokens to list")
        ->check(CLI::Range(1, 1000))
        ->capture_default_str();
    return {app, [o] { return run_eval(*o); }};
}

}  // namespace structseq::cli
