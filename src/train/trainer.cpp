#include "structseq/train/trainer.h"

#include "structseq/core/error.h"
#include "structseq/core/log.h"
#include "structseq/core/memory_stats.h"
#include "structseq/core/progress.h"
#include "structseq/core/rng.h"
#include "structseq/data/text_corpus.h"
#include "structseq/data/token_dataset.h"
#include "structseq/io/atomic_file.h"
#include "structseq/train/adamw.h"
#include "structseq/train/checkpoint.h"
#include "structseq/train/loss_plot.h"
#include "structseq/train/lr_schedule.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numbers>
#include <optional>

namespace structseq {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The run's tokenizer: a resumed run's own; a SentencePiece model trained on the dataset's
// documents; or the configured one.
std::unique_ptr<Tokenizer> make_tokenizer(const RunConfig& config,
                                          std::optional<LoadedCheckpoint>& resumed) {
    if (resumed) return std::move(resumed->tokenizer);
    if (config.tokenizer == "byte") return make_byte_tokenizer();
    if (config.tokenizer == "sentencepiece") {
        log::info("tokenizer: training a SentencePiece model of {} pieces on {}",
                  config.tokenizer_vocab_size, config.dataset.data_path);
        return train_sentencepiece_tokenizer(
            read_dataset_documents(config.dataset.type, config.dataset.data_path,
                                   config.dataset.text_field),
            config.tokenizer_vocab_size);
    }
    std::unique_ptr<Tokenizer> t = load_tokenizer(config.tokenizer_path);
    if (t->type() != config.tokenizer) {
        fail("tokenizer.path: {} holds a {} tokenizer, not {}", config.tokenizer_path, t->type(),
             config.tokenizer);
    }
    return t;
}

// AdamW's parameters with the run's groups (see trainer.h).
std::vector<AdamWParameter> parameter_groups(MambaWeights& weights, const OptimizerSettings& o) {
    std::vector<AdamWParameter> parameters = adamw_parameters(weights.named_tensors());
    for (AdamWParameter& p : parameters) {
        if (p.name.ends_with("A_log") || p.name.ends_with(".D") || p.name.ends_with("log_lambda") ||
            p.name == "positions") {
            p.decay = false;
        }
        const bool selective = p.name.find("x_proj") != std::string::npos ||
                               p.name.find("dt_proj") != std::string::npos;
        if (o.use_param_groups && selective) p.lr_scale = o.selective_param_lr_multiplier;
    }
    return parameters;
}

std::vector<Tensor*> gradient_tensors(MambaWeights& grads) {
    std::vector<Tensor*> out;
    for (const auto& named : grads.named_tensors()) out.push_back(named.second);
    return out;
}

// Global L2 norm of the gradients (float32 tensors, summed in float64).
double gradient_norm(const std::vector<Tensor*>& grads) {
    double sum = 0;
    for (const Tensor* g : grads) {
        const float* p = g->data<float>();
        for (std::int64_t i = 0; i < g->numel(); ++i) sum += static_cast<double>(p[i]) * p[i];
    }
    return std::sqrt(sum);
}

void scale_gradients(const std::vector<Tensor*>& grads, double factor) {
    const auto f = static_cast<float>(factor);
    for (Tensor* g : grads) {
        float* p = g->data<float>();
        for (std::int64_t i = 0; i < g->numel(); ++i) p[i] *= f;
    }
}

// The window indices of the training samples [first, first + count) (trainer.h).
class SampleOrder {
public:
    SampleOrder(std::int64_t windows, std::uint64_t seed) : windows_(windows), seed_(seed) {}
    std::vector<std::int64_t> take(std::int64_t first, std::int64_t count) {
        std::vector<std::int64_t> out;
        for (std::int64_t k = first; k < first + count; ++k) {
            const std::int64_t epoch = k / windows_;
            if (epoch != epoch_) {
                order_ = Rng(seed_, 1000 + static_cast<std::uint64_t>(epoch)).permutation(windows_);
                epoch_ = epoch;
            }
            out.push_back(order_[static_cast<std::size_t>(k % windows_)]);
        }
        return out;
    }

private:
    std::int64_t windows_;
    std::uint64_t seed_;
    std::int64_t epoch_ = -1;
    std::vector<std::int64_t> order_;
};

// metrics.jsonl, appended line by line (a resumed run first drops the lines past its step),
// and loss.svg drawn from it.
class MetricsLog {
public:
    MetricsLog(const fs::path& directory, std::int64_t resume_step)
        : path_(directory / "metrics.jsonl"), plot_(directory / "loss.svg") {
        std::error_code error;
        if (resume_step < 0 || !fs::exists(path_, error)) {
            io::write_file_atomic(path_.string(), "");
            return;
        }
        std::ifstream in(path_);
        std::string line, kept;
        while (std::getline(in, line)) {
            try {
                const nlohmann::json record = nlohmann::json::parse(line);
                if (record.at("step").get<std::int64_t>() <= resume_step) {
                    kept += line + "\n";
                    remember(record);
                }
            } catch (const nlohmann::json::exception&) {
            }
        }
        io::write_file_atomic(path_.string(), kept);
    }
    void write(const nlohmann::json& record) {
        std::ofstream out(path_, std::ios::app);
        out << record.dump() << "\n";
        if (!out) fail("{}: cannot append metrics", path_.string());
        remember(record);
    }
    void plot(const std::string& title) const {
        io::write_file_atomic(plot_.string(), loss_plot_svg(train_, validation_, title));
    }

private:
    void remember(const nlohmann::json& record) {
        const std::string split = record.at("split").get<std::string>();
        LossCurve* curve = split == "train" ? &train_ : split == "val" ? &validation_ : nullptr;
        if (curve != nullptr && record.at("loss").is_number()) {
            curve->emplace_back(record.at("step").get<std::int64_t>(),
                                record.at("loss").get<double>());
        }
    }
    fs::path path_, plot_;
    LossCurve train_, validation_;
};

void log_settings_not_applied(const RunConfig& config) {
    if (config.training.mixed_precision != "no") {
        log::info(
            "training.mixed_precision = {}: training runs in float32 (AdamW moments in float64). "
            "Most of a step is float32 GEMM, and Debian's OpenBLAS has no half-precision GEMM "
            "(it exports no sbgemm), so fp16/bf16 storage would only add conversions around "
            "every product",
            config.training.mixed_precision);
    }
}

}  // namespace

TokenDataset load_run_dataset(const RunConfig& config, const Tokenizer& tokenizer,
                              std::uint64_t seed) {
    const DatasetSettings& d = config.dataset;
    std::error_code error;
    if (d.data_path != kBundledCorpus && !fs::exists(d.data_path, error)) {
        fail(
            "dataset.data_path: '{}' does not exist ({} dataset). {}Nothing is downloaded: "
            "point dataset.data_path at a local copy, or use '{}', the bundled corpus",
            d.data_path, d.type,
            d.type == "synthetic" ? "A synthetic dataset is written by `structseq "
                                    "create-synthetic`. "
                                  : "",
            kBundledCorpus);
    }
    const std::vector<std::string> documents =
        read_dataset_documents(d.type, d.data_path, d.text_field);
    DatasetOptions options;
    options.max_seq_len = d.max_seq_len;
    options.stride = d.stride;
    options.val_split = d.val_split;
    options.test_split = d.test_split;
    options.seed = seed;
    const std::vector<TeacherTargets> teacher = read_teacher_targets(d.data_path);
    if (!teacher.empty()) {
        log::info(
            "dataset: {} carries the teacher's top-{} logits: training distills (T = {}, "
            "α = {})",
            d.data_path, teacher.front().k, config.distillation.temperature,
            config.distillation.alpha);
        return build_token_dataset(documents, tokenizer, options, &teacher);
    }
    return build_token_dataset(documents, tokenizer, options);
}

SplitLoss evaluate_split(const MambaModel& model, const TokenWindows& split,
                         std::int64_t batch_size, std::int64_t max_batches) {
    SplitLoss out;
    if (split.size() == 0) {
        out.loss = out.bits_per_byte = std::numeric_limits<double>::quiet_NaN();
        return out;
    }
    std::int64_t batches = (split.size() + batch_size - 1) / batch_size;
    if (max_batches > 0) batches = std::min(batches, max_batches);
    double total = 0;
    for (std::int64_t b = 0; b < batches; ++b) {
        std::vector<std::int64_t> indices;
        for (std::int64_t w = b * batch_size; w < std::min(split.size(), (b + 1) * batch_size);
             ++w) {
            indices.push_back(w);
        }
        Tensor tokens, targets;
        split.batch(indices, tokens, targets);
        total += model.loss(tokens, targets) * static_cast<double>(indices.size());
        out.windows += static_cast<std::int64_t>(indices.size());
    }
    out.loss = total / static_cast<double>(out.windows);
    out.bits_per_byte = out.loss / std::numbers::ln2 / split.bytes_per_token();
    return out;
}

TrainResult train_language_model(const RunConfig& config, const TrainOptions& options) {
    const TrainingSettings& t = config.training;
    std::optional<LoadedCheckpoint> resumed;
    std::string resumed_from;
    if (options.resume) {
        resumed_from = find_checkpoint(options.output_dir, "latest");
        resumed.emplace(load_checkpoint(resumed_from));
    } else if (std::error_code error;
               fs::exists(fs::path(options.output_dir) / "checkpoints", error)) {
        fail(
            "{} already holds a run's checkpoints: use --resume to continue it, or another "
            "--output-dir (or remove this one)",
            options.output_dir);
    }
    const std::uint64_t seed = resumed ? resumed->state.seed : options.seed.value_or(t.seed);
    if (resumed && options.seed && *options.seed != seed) {
        fail("--seed {} differs from the seed {} of the run being resumed ({})", *options.seed,
             seed, resumed_from);
    }
    const std::unique_ptr<Tokenizer> tokenizer = make_tokenizer(config, resumed);
    if (config.model.mamba.vocab_size < tokenizer->vocab_size()) {
        fail(
            "model.vocab_size = {} is smaller than the {} tokenizer's {} tokens; set "
            "model.vocab_size: {}",
            config.model.mamba.vocab_size, tokenizer->type(), tokenizer->vocab_size(),
            tokenizer->vocab_size());
    }
    if (config.model.mamba.vocab_size > tokenizer->vocab_size() + 64) {
        log::warn(
            "model.vocab_size = {} but the {} tokenizer has {} tokens: the other embedding rows "
            "are never used (set model.vocab_size: {}, or a tokenizer of that size)",
            config.model.mamba.vocab_size, tokenizer->type(), tokenizer->vocab_size(),
            tokenizer->vocab_size());
    }
    log_settings_not_applied(config);
    const TokenDataset data = load_run_dataset(config, *tokenizer, seed);
    log::info("dataset: {} documents; {} training windows of {} tokens, {} validation, {} test",
              data.documents, data.train.size(), config.dataset.max_seq_len, data.val.size(),
              data.test.size());

    const std::int64_t per_step = t.batch_size * t.gradient_accumulation_steps;
    const std::int64_t total_steps =
        t.max_steps > 0 ? t.max_steps
                        : (t.num_epochs * data.train.size() + per_step - 1) / per_step;
    if (options.dry_run) {
        TrainResult plan;
        plan.steps = total_steps;
        plan.parameters = init_language_model(config.model, seed).parameter_count();
        return plan;
    }
    fs::create_directories(options.output_dir);

    TrainerState state;
    state.seed = seed;
    if (resumed) state = resumed->state;
    const std::int64_t stop_at =
        options.stop_after > 0 ? std::min(total_steps, options.stop_after) : total_steps;
    MambaModel model =
        resumed ? std::move(resumed->model) : init_language_model(config.model, seed);
    model.set_recompute_layers(t.gradient_checkpointing);
    MambaWeights weights = model.weights();  // shares the model's storage: AdamW updates it
    AdamWOptions adam;
    adam.beta1 = config.optimizer.beta1;
    adam.beta2 = config.optimizer.beta2;
    adam.eps = config.optimizer.eps;
    adam.weight_decay = config.optimizer.weight_decay;
    AdamW optimizer(parameter_groups(weights, config.optimizer), adam);
    if (options.resume) {
        optimizer.restore(state.step, load_optimizer_moments(resumed_from));
        log::info("resuming from {} (step {} of {})", resumed_from, state.step, total_steps);
    }
    MetricsLog metrics(options.output_dir, options.resume ? state.step : -1);
    const std::string plot_title = fmt::format("{:.2f} M parameters, {} steps of {} × {} tokens",
                                               static_cast<double>(model.parameter_count()) / 1e6,
                                               total_steps, per_step, config.dataset.max_seq_len);
    log::info("training {:.2f} M parameters for {} steps of {} × {} tokens into {}",
              static_cast<double>(model.parameter_count()) / 1e6, total_steps, per_step,
              config.dataset.max_seq_len, options.output_dir);

    SampleOrder order(data.train.size(), seed);
    ProgressBar bar(std::max<std::int64_t>(0, stop_at - state.step), "train",
                    options.progress ? ProgressBar::Mode::Auto : ProgressBar::Mode::Silent);
    TrainResult result;
    result.parameters = model.parameter_count();
    double interval_loss = 0;
    std::int64_t interval_steps = 0, interval_tokens = 0;
    double interval_seconds = 0, all_seconds = 0;
    std::int64_t all_tokens = 0;
    const auto save = [&] {
        result.last_checkpoint =
            save_checkpoint(options.output_dir, model, optimizer, state, config, *tokenizer);
        rotate_checkpoints(options.output_dir, t.save_total_limit);
    };
    reset_tensor_bytes_peak();
    while (state.step < stop_at) {
        const std::int64_t s = state.step;
        const Clock::time_point start = Clock::now();
        const double lr =
            learning_rate_at(config.scheduler, config.optimizer.learning_rate, s, total_steps);
        model.set_dropout(config.model.dropout, seed, static_cast<std::uint64_t>(s));
        MambaWeights grads = weights.zeros_like();
        const std::vector<Tensor*> g = gradient_tensors(grads);
        double loss = 0;
        for (std::int64_t a = 0; a < t.gradient_accumulation_steps; ++a) {
            const std::vector<std::int64_t> indices =
                order.take((s * t.gradient_accumulation_steps + a) * t.batch_size, t.batch_size);
            Tensor tokens, targets;
            data.train.batch(indices, tokens, targets);
            if (data.train.has_teacher()) {
                MambaModel::Distillation teacher;
                data.train.teacher_batch(indices, teacher.ids, teacher.logits);
                teacher.temperature = config.distillation.temperature;
                teacher.alpha = config.distillation.alpha;
                loss += model.loss(tokens, targets, teacher, &grads);
            } else {
                loss += model.loss(tokens, targets, &grads);
            }
        }
        loss /= static_cast<double>(t.gradient_accumulation_steps);
        if (!std::isfinite(loss)) {
            fail("training diverged at step {}: loss {} (lower optimizer.learning_rate)", s + 1,
                 loss);
        }
        scale_gradients(g, 1.0 / static_cast<double>(t.gradient_accumulation_steps));
        const double norm = gradient_norm(g);
        if (t.max_grad_norm > 0 && norm > t.max_grad_norm) {
            scale_gradients(g, t.max_grad_norm / (norm + 1e-6));
        }
        optimizer.step(std::vector<const Tensor*>(g.begin(), g.end()), lr);
        state.step = s + 1;
        const std::int64_t step_tokens = per_step * config.dataset.max_seq_len;
        state.tokens += step_tokens;
        const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
        interval_loss += loss;
        ++interval_steps;
        interval_tokens += step_tokens;
        interval_seconds += seconds;
        all_tokens += step_tokens;
        all_seconds += seconds;
        const bool last = state.step == stop_at;
        bar.advance(1, fmt::format("loss {:.4f}  lr {:.2e}  {:.0f} tok/s", loss, lr,
                                   static_cast<double>(step_tokens) / seconds));
        if (state.step % t.logging_steps == 0 || last) {
            result.train_loss = interval_loss / static_cast<double>(interval_steps);
            metrics.write(
                {{"step", state.step},
                 {"split", "train"},
                 {"loss", result.train_loss},
                 {"lr", lr},
                 {"grad_norm", norm},
                 {"tokens_per_s", static_cast<double>(interval_tokens) / interval_seconds}});
            interval_loss = interval_seconds = 0;
            interval_steps = interval_tokens = 0;
        }
        bool saved = false;
        model.set_dropout(0);  // evaluation sees the whole model
        if ((state.step % t.eval_steps == 0 || last) && data.val.size() > 0) {
            const SplitLoss val = evaluate_split(model, data.val, t.batch_size, t.eval_batches);
            metrics.write({{"step", state.step},
                           {"split", "val"},
                           {"loss", val.loss},
                           {"bits_per_byte", val.bits_per_byte},
                           {"lr", lr},
                           {"tokens_per_s", all_seconds > 0 ? all_tokens / all_seconds : 0.0}});
            result.val_loss = val.loss;
            result.val_bits_per_byte = val.bits_per_byte;
            if (val.loss < state.best_val_loss) {
                state.best_val_loss = val.loss;
                state.best_step = state.step;
                save();
                saved = true;
                mark_best_checkpoint(options.output_dir, state.step, val.loss);
            }
        }
        if (!saved && (state.step % t.save_steps == 0 || last)) save();
        if (state.step % t.eval_steps == 0 || last) metrics.plot(plot_title);
    }
    bar.finish();
    result.peak_tensor_bytes = tensor_bytes_peak();
    if (result.last_checkpoint.empty() && state.step > 0) save();
    result.steps = state.step;
    result.tokens_per_second = all_seconds > 0 ? all_tokens / all_seconds : 0.0;
    if (data.val.size() == 0) result.val_loss = std::numeric_limits<double>::quiet_NaN();
    result.test_loss = std::numeric_limits<double>::quiet_NaN();
    if (data.test.size() > 0 && state.step == total_steps) {
        const bool best = options.use_best_model && state.best_step >= 0;
        const LoadedCheckpoint tested =
            load_checkpoint(find_checkpoint(options.output_dir, best ? "best" : "latest"));
        const SplitLoss test =
            evaluate_split(tested.model, data.test, t.batch_size, t.eval_batches);
        result.test_loss = test.loss;
        metrics.write({{"step", tested.state.step},
                       {"split", "test"},
                       {"loss", test.loss},
                       {"bits_per_byte", test.bits_per_byte},
                       {"lr", 0.0},
                       {"tokens_per_s", result.tokens_per_second}});
    }
    return result;
}

}  // namespace structseq
