#pragma once
// A training run's output directory:
//   OUT/checkpoints/step-00000100/  model.safetensors      float32 weights, by their
//                                                          MambaWeights::named_tensors() names
//                                   optimizer.safetensors  AdamW moments ("m.NAME", "v.NAME")
//                                   trainer_state.json     step, tokens, best validation loss,
//                                                          seed
//                                   config.yaml            the run's configuration, in full
//                                   tokenizer.json
//   OUT/best.json                   {"step": N, "val_loss": x}: the best checkpoint so far
// A checkpoint is written into a hidden ".step-N.partial" folder, every file synced, then renamed
// into place: a process killed while saving leaves the earlier checkpoints as they were and a
// partial folder that nothing reads (the next save of that step replaces it).

#include "structseq/data/tokenizer.h"
#include "structseq/model/mamba_model.h"
#include "structseq/train/adamw.h"
#include "structseq/train/run_config.h"

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace structseq {

struct TrainerState {
    std::int64_t step = 0;    // optimizer steps done
    std::int64_t tokens = 0;  // training tokens seen
    double best_val_loss = std::numeric_limits<double>::infinity();
    std::int64_t best_step = -1;
    std::uint64_t seed = 0;  // the run's seed (training.seed or --seed): its data split
};

// Writes the checkpoint of `state.step`; returns its folder.
std::string save_checkpoint(const std::string& output_dir, const MambaModel& model,
                            const AdamW& optimizer, const TrainerState& state,
                            const RunConfig& config, const Tokenizer& tokenizer);

// Records `step` as the best checkpoint (best.json, atomically).
void mark_best_checkpoint(const std::string& output_dir, std::int64_t step, double val_loss);

// Removes all but the newest `keep` checkpoints, never the best one.
void rotate_checkpoints(const std::string& output_dir, std::int64_t keep);

// Whether `dir` was written by `structseq train`: a run's output directory or one of its
// checkpoint folders.
bool is_trained_model(const std::string& dir);

// The checkpoint folder `which` names in a model directory: "best", "latest", or a path to a
// checkpoint folder; a model directory that is itself a checkpoint folder names itself. Error
// when there is none.
std::string find_checkpoint(const std::string& model_dir, const std::string& which);

struct LoadedCheckpoint {
    std::string directory;
    RunConfig config;
    MambaModel model;
    std::unique_ptr<Tokenizer> tokenizer;
    TrainerState state;
};

// Errors name the file, and the tensor when one is missing or shaped unlike the configuration.
LoadedCheckpoint load_checkpoint(const std::string& directory);

// The AdamW moments saved with a checkpoint.
std::vector<std::pair<std::string, Tensor>> load_optimizer_moments(const std::string& directory);

}  // namespace structseq
