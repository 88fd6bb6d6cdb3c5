#pragma once
// A training run's YAML file: seed 002's sections with its keys and defaults, and what the seed
// leaves out (marked +):
//   model:        model_config.h (vocab_size, hidden_dim, state_dim, …, + mixer, …)
//   training:     num_epochs 3, gradient_accumulation_steps 2, max_grad_norm 1.0,
//                 logging_steps 100, save_steps 1000, eval_steps 1000, mixed_precision fp16,
//                 gradient_checkpointing true, + batch_size 8, + max_steps 0 (0: num_epochs
//                 decides), + eval_batches 0 (0: the whole validation split), + save_total_limit 3,
//                 + seed 42
//   optimizer:    name adamw, learning_rate 5e-4, weight_decay 0.01, use_param_groups true,
//                 selective_param_lr_multiplier 1.5, + beta1 0.9, + beta2 0.999, + eps 1e-8
//   scheduler:    name cosine (or linear, constant), warmup_steps 1000, min_lr_ratio 0.1
//   dataset:      type synthetic (or custom, wikitext103, pile), max_seq_len 1024, stride 512,
//                 data_path data/synthetic/phi4_dataset.json, val_split 0.1, test_split 0.1,
//                 + text_field text
//   + tokenizer:  type byte; sentencepiece (trained on the dataset, vocab_size pieces, 0: the
//                 model's vocab_size); huggingface (the byte-level BPE of the tokenizer.json at
//                 `path`)
//   + distillation: temperature 2.0, alpha 0.5, top_k 20
// Unknown keys, wrong types and out-of-range values are errors naming the dotted key.

#include "structseq/model/model_config.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace structseq {

struct TrainingSettings {
    std::int64_t num_epochs = 3;
    std::int64_t gradient_accumulation_steps = 2;
    double max_grad_norm = 1.0;  // 0: no clipping
    std::int64_t logging_steps = 100, save_steps = 1000, eval_steps = 1000;
    std::string mixed_precision = "fp16";
    bool gradient_checkpointing = true;
    std::int64_t batch_size = 8;
    std::int64_t max_steps = 0;
    std::int64_t eval_batches = 0;
    std::int64_t save_total_limit = 3;
    std::uint64_t seed = 42;
};

struct OptimizerSettings {
    double learning_rate = 5e-4;
    double weight_decay = 0.01;
    bool use_param_groups = true;
    double selective_param_lr_multiplier = 1.5;
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

struct SchedulerSettings {
    std::string name = "cosine";
    std::int64_t warmup_steps = 1000;
    double min_lr_ratio = 0.1;
};

struct DatasetSettings {
    std::string type = "synthetic";
    std::int64_t max_seq_len = 1024;
    std::int64_t stride = 512;
    std::string data_path = "data/synthetic/phi4_dataset.json";
    double val_split = 0.1, test_split = 0.1;
    std::string text_field = "text";
};

struct DistillationSettings {
    double temperature = 2.0;
    double alpha = 0.5;
    std::int64_t top_k = 20;
};

struct RunConfig {
    LanguageModelConfig model;
    TrainingSettings training;
    OptimizerSettings optimizer;
    SchedulerSettings scheduler;
    DatasetSettings dataset;
    std::string tokenizer = "byte";
    std::string tokenizer_path;             // huggingface: a tokenizer.json or its folder
    std::int64_t tokenizer_vocab_size = 0;  // sentencepiece: pieces to learn (model.vocab_size)
    DistillationSettings distillation;
    std::string yaml;  // the whole configuration with every default filled in
};

io::ConfigField run_config_schema();
RunConfig parse_run_config(std::string_view text, const std::string& source);
RunConfig load_run_config(const std::string& path);

}  // namespace structseq
