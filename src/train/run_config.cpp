#include "structseq/train/run_config.h"
#include "structseq/io/read_file.h"

#include "structseq/core/error.h"
#include "structseq/io/config.h"

namespace structseq {

io::ConfigField run_config_schema() {
    using F = io::ConfigField;
    return F::section({
        {"model", model_config_section()},
        {"training", F::section({
                         {"num_epochs", F::integer(3).at_least(1)},
                         {"gradient_accumulation_steps", F::integer(2).at_least(1)},
                         {"max_grad_norm", F::number(1.0).at_least(0)},
                         {"logging_steps", F::integer(100).at_least(1)},
                         {"save_steps", F::integer(1000).at_least(1)},
                         {"eval_steps", F::integer(1000).at_least(1)},
                         {"mixed_precision", F::choice("fp16", {"no", "fp16", "bf16"})},
                         {"gradient_checkpointing", F::boolean(true)},
                         {"batch_size", F::integer(8).at_least(1)},
                         {"max_steps", F::integer(0).at_least(0)},
                         {"eval_batches", F::integer(0).at_least(0)},
                         {"save_total_limit", F::integer(3).at_least(1)},
                         {"seed", F::integer(42).at_least(0)},
                     })},
        {"optimizer", F::section({
                          {"name", F::choice("adamw", {"adamw"})},
                          {"learning_rate", F::number(5e-4).greater_than(0)},
                          {"weight_decay", F::number(0.01).at_least(0)},
                          {"use_param_groups", F::boolean(true)},
                          {"selective_param_lr_multiplier", F::number(1.5).greater_than(0)},
                          {"beta1", F::number(0.9).at_least(0).at_most(0.999999)},
                          {"beta2", F::number(0.999).at_least(0).at_most(0.999999)},
                          {"eps", F::number(1e-8).greater_than(0)},
                      })},
        {"scheduler", F::section({
                          {"name", F::choice("cosine", {"cosine", "linear", "constant"})},
                          {"warmup_steps", F::integer(1000).at_least(0)},
                          {"min_lr_ratio", F::number(0.1).at_least(0).at_most(1)},
                      })},
        {"dataset",
         F::section({
             {"type", F::choice("synthetic", {"synthetic", "custom", "wikitext103", "pile"})},
             {"max_seq_len", F::integer(1024).at_least(1)},
             {"stride", F::integer(512).at_least(1)},
             {"data_path", F::string("data/synthetic/phi4_dataset.json")},
             {"val_split", F::number(0.1).at_least(0).at_most(0.9)},
             {"test_split", F::number(0.1).at_least(0).at_most(0.9)},
             {"text_field", F::string("text")},
         })},
        {"tokenizer", F::section({
                          {"type", F::choice("byte", {"byte", "sentencepiece", "huggingface"})},
                          {"path", F::string("")},
                          {"vocab_size", F::integer(0).at_least(0)},
                      })},
        {"distillation", F::section({
                             {"temperature", F::number(2.0).greater_than(0)},
                             {"alpha", F::number(0.5).at_least(0).at_most(1)},
                             {"top_k", F::integer(20).at_least(1)},
                         })},
    });
}

RunConfig parse_run_config(std::string_view text, const std::string& source) {
    const io::Config c = io::parse_config(text, run_config_schema(), source);
    RunConfig r;
    r.model = language_model_config(c);
    TrainingSettings& t = r.training;
    t.num_epochs = c.integer("training.num_epochs");
    t.gradient_accumulation_steps = c.integer("training.gradient_accumulation_steps");
    t.max_grad_norm = c.number("training.max_grad_norm");
    t.logging_steps = c.integer("training.logging_steps");
    t.save_steps = c.integer("training.save_steps");
    t.eval_steps = c.integer("training.eval_steps");
    t.mixed_precision = c.string("training.mixed_precision");
    t.gradient_checkpointing = c.boolean("training.gradient_checkpointing");
    t.batch_size = c.integer("training.batch_size");
    t.max_steps = c.integer("training.max_steps");
    t.eval_batches = c.integer("training.eval_batches");
    t.save_total_limit = c.integer("training.save_total_limit");
    t.seed = static_cast<std::uint64_t>(c.integer("training.seed"));
    OptimizerSettings& o = r.optimizer;
    o.learning_rate = c.number("optimizer.learning_rate");
    o.weight_decay = c.number("optimizer.weight_decay");
    o.use_param_groups = c.boolean("optimizer.use_param_groups");
    o.selective_param_lr_multiplier = c.number("optimizer.selective_param_lr_multiplier");
    o.beta1 = c.number("optimizer.beta1");
    o.beta2 = c.number("optimizer.beta2");
    o.eps = c.number("optimizer.eps");
    r.scheduler.name = c.string("scheduler.name");
    r.scheduler.warmup_steps = c.integer("scheduler.warmup_steps");
    r.scheduler.min_lr_ratio = c.number("scheduler.min_lr_ratio");
    DatasetSettings& d = r.dataset;
    d.type = c.string("dataset.type");
    d.max_seq_len = c.integer("dataset.max_seq_len");
    d.stride = c.integer("dataset.stride");
    d.data_path = c.string("dataset.data_path");
    d.val_split = c.number("dataset.val_split");
    d.test_split = c.number("dataset.test_split");
    d.text_field = c.string("dataset.text_field");
    r.tokenizer = c.string("tokenizer.type");
    r.tokenizer_path = c.string("tokenizer.path");
    r.tokenizer_vocab_size = c.integer("tokenizer.vocab_size") > 0
                                 ? c.integer("tokenizer.vocab_size")
                                 : r.model.mamba.vocab_size;
    if (r.tokenizer == "huggingface" && r.tokenizer_path.empty()) {
        fail(
            "{}: tokenizer.path is required with tokenizer.type huggingface (a tokenizer.json "
            "or the folder holding one)",
            source);
    }
    r.distillation.temperature = c.number("distillation.temperature");
    r.distillation.alpha = c.number("distillation.alpha");
    r.distillation.top_k = c.integer("distillation.top_k");
    r.yaml = c.to_yaml();
    return r;
}

RunConfig load_run_config(const std::string& path) {
    return parse_run_config(io::read_file(path, "the configuration file"), path);
}

}  // namespace structseq
