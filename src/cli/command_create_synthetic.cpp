// structseq create-synthetic [--config C] [--num-samples N] [--temperature T] [--output-dir D]
//   [--output-file F] [--distillation] [--teacher model:DIR | ollama:MODEL] [--ollama-url URL]
//   [--prompts FILE] [--max-length N] [--seed S]
// Writes JSON lines {"prompt", "completion", "text", "teacher"} (with --distillation also
// "tokens", "top_ids", "top_logits": the teacher's k largest next-token logits per position),
// atomically once every sample is in.

#include "commands.h"

#include "structseq/core/error.h"
#include "structseq/core/progress.h"
#include "structseq/io/atomic_file.h"
#include "structseq/train/run_config.h"
#include "structseq/train/teacher.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace structseq::cli {

namespace {

// Prompts used when --prompts is not given: varied instructions, as a general teacher expects.
const std::vector<std::string>& default_prompts() {
    static const std::vector<std::string> prompts = {
        "Write a short story about a lighthouse keeper who finds a message in a bottle.",
        "Explain how photosynthesis turns light into chemical energy.",
        "Describe a busy market in a coastal town at dawn.",
        "Write a letter from a traveller to a friend at home.",
        "Explain why the sky is blue, in simple words.",
        "Tell a fable about a fox, a crow and a clever child.",
        "Describe how a steam engine works.",
        "Write a dialogue between a teacher and a curious student about the stars.",
        "Summarize the water cycle.",
        "Write a poem about the first snow of winter.",
        "Explain what a prime number is and give examples.",
        "Describe the life of a honeybee over one summer day.",
        "Write instructions for baking a loaf of bread.",
        "Tell the story of a small boat crossing a stormy sea.",
        "Explain how a library organizes its books.",
        "Describe a mountain village seen from the valley below.",
    };
    return prompts;
}

struct CreateSyntheticOptions {
    std::string config;
    std::int64_t num_samples = 100;
    double temperature = 0.7;
    std::string output_dir;
    std::string output_file;
    bool distillation = false;
    std::string teacher = "model:outputs/run";
    std::string ollama_url = "http://127.0.0.1:11434";
    std::string prompts;
    std::int64_t max_length = 256;
    std::int64_t top_k = 0;  // 0: distillation.top_k of --config, else 20
    std::uint64_t seed = 0;
};

std::vector<std::string> read_prompts(const std::string& path) {
    std::ifstream in(path);
    if (!in) fail("--prompts: {} cannot be read", path);
    std::vector<std::string> prompts;
    std::string line;
    while (std::getline(in, line)) {
        if (line.find_first_not_of(" \t\r") != std::string::npos) prompts.push_back(line);
    }
    if (prompts.empty()) fail("--prompts: {} holds no prompt (one per line)", path);
    return prompts;
}

int run_create_synthetic(const CreateSyntheticOptions& o) {
    std::optional<RunConfig> config;
    if (!o.config.empty()) config = load_run_config(o.config);
    // The output: --output-dir / --output-file, else the configuration's dataset.data_path, else
    // the seed's data/synthetic/phi4_dataset.json.
    const std::filesystem::path configured(config ? config->dataset.data_path
                                                  : "data/synthetic/phi4_dataset.json");
    const std::filesystem::path directory =
        o.output_dir.empty() ? configured.parent_path() : std::filesystem::path(o.output_dir);
    const std::filesystem::path file =
        directory / (o.output_file.empty() ? configured.filename().string() : o.output_file);
    const std::int64_t top_k = o.top_k > 0 ? o.top_k : config ? config->distillation.top_k : 20;
    const std::unique_ptr<Teacher> teacher = make_teacher(o.teacher, o.ollama_url);
    if (o.distillation && !teacher->gives_logits()) {
        fail(
            "--distillation needs the teacher's logits, which {} does not give (Ollama's "
            "/api/generate returns text only); use --teacher model:DIR",
            teacher->name());
    }
    const std::vector<std::string> prompts =
        o.prompts.empty() ? default_prompts() : read_prompts(o.prompts);
    std::string lines;
    ProgressBar bar(o.num_samples, "create-synthetic");
    for (std::int64_t i = 0; i < o.num_samples; ++i) {
        TeacherRequest request;
        request.prompt = prompts[static_cast<std::size_t>(i) % prompts.size()];
        request.max_tokens = o.max_length;
        request.temperature = o.temperature;
        request.seed = o.seed + static_cast<std::uint64_t>(i);
        request.top_k_logits = o.distillation ? top_k : 0;
        const TeacherSample sample = teacher->complete(request);
        nlohmann::json record = {{"prompt", request.prompt},
                                 {"completion", sample.completion},
                                 {"text", request.prompt + sample.completion},
                                 {"teacher", teacher->name()}};
        if (o.distillation) {
            record["tokens"] = sample.tokens;
            nlohmann::json ids = nlohmann::json::array(), logits = nlohmann::json::array();
            for (const auto& position : sample.top_logits) {
                nlohmann::json pi = nlohmann::json::array(), pl = nlohmann::json::array();
                for (const auto& [id, logit] : position) {
                    pi.push_back(id);
                    pl.push_back(logit);
                }
                ids.push_back(std::move(pi));
                logits.push_back(std::move(pl));
            }
            record["top_ids"] = std::move(ids);
            record["top_logits"] = std::move(logits);
        }
        lines += record.dump() + "\n";
        bar.advance();
    }
    bar.finish();
    std::filesystem::create_directories(directory);
    io::write_file_atomic(file.string(), lines);
    fmt::print("{}: {} samples from {}{}\n", file.string(), o.num_samples, teacher->name(),
               o.distillation ? fmt::format(", with the top-{} logits per token", top_k) : "");
    return 0;
}

}  // namespace

Command add_create_synthetic_command(CLI::App& parent) {
    CLI::App* app = parent.add_subcommand(
        "create-synthetic",
        "Write a synthetic dataset (JSON lines) with a teacher: a model trained by structseq or "
        "a running Ollama server");
    auto o = std::make_shared<CreateSyntheticOptions>();
    app->add_option("--config", o->config,
                    "A run configuration: the output defaults to its dataset.data_path, the "
                    "logits kept to its distillation.top_k")
        ->check(CLI::ExistingFile);
    app->add_option("--num-samples", o->num_samples, "How many samples")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 30))
        ->capture_default_str();
    app->add_option("--temperature", o->temperature, "The teacher's sampling temperature")
        ->check(CLI::Range(0.0, 100.0))
        ->capture_default_str();
    app->add_option("--output-dir", o->output_dir,
                    "Folder of the output (default: that of dataset.data_path, else "
                    "data/synthetic)");
    app->add_option("--output-file", o->output_file,
                    "File name of the output (default: that of dataset.data_path, else "
                    "phi4_dataset.json)");
    app->add_flag("--distillation", o->distillation,
                  "Also store the teacher's top-k logits per token (model teachers)");
    app->add_option("--teacher", o->teacher, "model:DIR or ollama:MODEL")->capture_default_str();
    app->add_option("--ollama-url", o->ollama_url, "The Ollama server")->capture_default_str();
    app->add_option("--prompts", o->prompts,
                    "A text file of prompts, one per line, used in turn (default: a built-in "
                    "set of varied instructions)");
    app->add_option("--max-length", o->max_length, "Tokens per completion")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 20))
        ->capture_default_str();
    app->add_option("--top-k", o->top_k, "Logits kept per token with --distillation")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 20));
    app->add_option("--seed", o->seed, "Seed of the first sample (sample i uses seed + i)")
        ->capture_default_str();
    return {app, [o] { return run_create_synthetic(*o); }};
}

}  // namespace structseq::cli
