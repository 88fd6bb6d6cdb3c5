// structseq train --config C [--output-dir D] [--seed S] [--resume] [--use-best-model]

#include "commands.h"

#include "structseq/train/trainer.h"

#include <fmt/format.h>

#include <cmath>
#include <memory>
#include <optional>
#include <string>

namespace structseq::cli {

namespace {

struct TrainCommandOptions {
    std::string config;
    std::string output_dir = "outputs/run";
    std::optional<std::uint64_t> seed;
    bool resume = false;
    bool use_best_model = false;
    bool no_progress = false;
    bool dry_run = false;
    std::int64_t stop_after = 0;
};

int run_train(const TrainCommandOptions& o) {
    const RunConfig config = load_run_config(o.config);
    TrainOptions options;
    options.output_dir = o.output_dir;
    options.seed = o.seed;
    options.resume = o.resume;
    options.use_best_model = o.use_best_model;
    options.progress = !o.no_progress;
    options.stop_after = o.stop_after;
    options.dry_run = o.dry_run;
    const TrainResult r = train_language_model(config, options);
    if (o.dry_run) {
        fmt::print("{}: valid; {:.2f} M parameters, {} steps planned\n", o.config,
                   static_cast<double>(r.parameters) / 1e6, r.steps);
        return 0;
    }
    fmt::print("trained {:.2f} M parameters for {} steps at {:.0f} tokens/s\n",
               static_cast<double>(r.parameters) / 1e6, r.steps, r.tokens_per_second);
    fmt::print("train loss {:.4f}; peak tensor memory {:.1f} MiB{}\n", r.train_loss,
               static_cast<double>(r.peak_tensor_bytes) / (1 << 20),
               config.training.gradient_checkpointing ? " (layers recomputed in backward)" : "");
    if (!std::isnan(r.val_loss)) {
        fmt::print("validation loss {:.4f}, perplexity {:.3f}, {:.4f} bits per byte\n", r.val_loss,
                   std::exp(r.val_loss), r.val_bits_per_byte);
    }
    if (!std::isnan(r.test_loss)) {
        fmt::print("test loss {:.4f} ({} model), perplexity {:.3f}\n", r.test_loss,
                   o.use_best_model ? "best" : "last", std::exp(r.test_loss));
    }
    fmt::print("checkpoint: {}\n", r.last_checkpoint);
    return 0;
}

}  // namespace

Command add_train_command(CLI::App& parent) {
    CLI::App* app = parent.add_subcommand(
        "train",
        "Train a language model from a YAML configuration (model, training, optimizer, "
        "scheduler, dataset, tokenizer sections); writes checkpoints and metrics.jsonl");
    auto o = std::make_shared<TrainCommandOptions>();
    app->add_option("--config", o->config, "The YAML configuration, e.g. configs/tiny.yaml")
        ->required()
        ->check(CLI::ExistingFile);
    app->add_option("--output-dir", o->output_dir,
                    "Where checkpoints, metrics.jsonl and best.json go")
        ->capture_default_str();
    app->add_option("--seed", o->seed,
                    "Overrides training.seed (initialization, data split, order)");
    app->add_flag("--resume", o->resume,
                  "Continue from the output directory's latest checkpoint (bit-exact with an "
                  "uninterrupted run on the same threads)");
    app->add_flag("--use-best-model", o->use_best_model,
                  "Report the test loss of the best checkpoint (by validation loss) rather than "
                  "the last weights");
    app->add_flag("--no-progress", o->no_progress, "No progress bar");
    app->add_flag("--dry-run", o->dry_run,
                  "Check the configuration and the dataset, build the model and plan the steps; "
                  "train and write nothing");
    app->add_option("--stop-after", o->stop_after,
                    "Save and stop once this many steps are done (--resume continues the run)")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 40));
    return {app, [o] { return run_train(*o); }};
}

}  // namespace structseq::cli
