#pragma once
// Training a language model from a RunConfig. Each optimizer step s draws
// batch_size × gradient_accumulation_steps training windows: sample k = s · that + i is
// window perm_e[k mod n] of epoch e = k div n, perm_e a permutation seeded by (seed, e), so a
// step's data depends on nothing but s, and a resumed run repeats an uninterrupted one bit for
// bit (same threads). The gradient is the mean over the micro-batches, clipped to
// max_grad_norm in global L2 norm, then AdamW at the scheduled rate: no weight decay on norms,
// biases, the embedding, the learned positions, A_log, D and ridge log λ;
// selective_param_lr_multiplier on x_proj and dt_proj (the selective parameterization) when
// use_param_groups. training.gradient_checkpointing recomputes each layer in the backward
// (MambaModel::set_recompute_layers). A dataset that carries a teacher's top-k logits
// (create-synthetic --distillation) trains on the distillation loss of MambaModel::Distillation
// with the `distillation:` section's T and α; validation and test losses stay plain cross-entropy.
// model.dropout is set for every step (MambaModel::set_dropout, masks from (seed, step, layer)) and
// off for evaluation.
//
// Output (OUT = output_dir): checkpoints as checkpoint.h describes (every save_steps, at each new
// best validation loss, and at the end; the newest save_total_limit kept, and the best);
// OUT/metrics.jsonl, one JSON object per logged step {step, split, loss, lr, tokens_per_s} (and
// bits_per_byte for validation and test); OUT/loss.svg, the train and validation curves
// (loss_plot.h), redrawn at every evaluation.

#include "structseq/data/token_dataset.h"
#include "structseq/train/run_config.h"

#include <cstdint>
#include <optional>
#include <string>

namespace structseq {

struct TrainOptions {
    std::string output_dir = "outputs/run";
    std::optional<std::uint64_t> seed;  // overrides training.seed
    bool resume = false;                // continue from OUT's latest checkpoint
    bool use_best_model = false;        // test the best checkpoint rather than the last weights
    bool progress = true;               // a progress bar on stderr
    bool dry_run = false;               // check the configuration and the dataset, build the
                                        // model, plan the steps; train nothing, write nothing
    std::int64_t stop_after = 0;        // > 0: save and stop once this many steps are done (a
                                        // pause: --resume continues the same run)
};

struct TrainResult {
    std::int64_t steps = 0;
    std::int64_t parameters = 0;
    double train_loss = 0;  // mean over the last logging interval
    double val_loss = 0;    // at the end (NaN without a validation split)
    double val_bits_per_byte = 0;
    double test_loss = 0;  // NaN without a test split
    double tokens_per_second = 0;
    std::int64_t peak_tensor_bytes = 0;  // during the steps: weights, gradients, activations
    std::string last_checkpoint;
};

TrainResult train_language_model(const RunConfig& config, const TrainOptions& options);

// The run's dataset (dataset section, tokenized, split by `seed`), as training sees it.
TokenDataset load_run_dataset(const RunConfig& config, const Tokenizer& tokenizer,
                              std::uint64_t seed);

// Mean next-token loss over the first `max_batches` batches of `batch_size` windows of a split
// (0: all), and that loss in bits per byte of text.
struct SplitLoss {
    double loss = 0;
    double bits_per_byte = 0;
    std::int64_t windows = 0;
};
SplitLoss evaluate_split(const MambaModel& model, const TokenWindows& split,
                         std::int64_t batch_size, std::int64_t max_batches);

}  // namespace structseq
