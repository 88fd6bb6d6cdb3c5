#include "structseq/train/checkpoint.h"
#include "structseq/io/read_file.h"

#include "structseq/core/error.h"
#include "structseq/io/atomic_file.h"
#include "structseq/io/safetensors.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

namespace structseq {

namespace {

namespace fs = std::filesystem;

std::string step_name(std::int64_t step) {
    return fmt::format("step-{:08d}", step);
}

std::string read_text(const fs::path& path) {
    return io::read_file(path.string(), "the checkpoint file");
}

nlohmann::json read_json(const fs::path& path) {
    try {
        return nlohmann::json::parse(read_text(path));
    } catch (const nlohmann::json::exception& e) {
        fail("{}: not valid JSON ({})", path.string(), e.what());
    }
}

// Steps of the complete checkpoints under OUT/checkpoints, ascending.
std::vector<std::int64_t> checkpoint_steps(const std::string& output_dir) {
    std::vector<std::int64_t> steps;
    const fs::path root = fs::path(output_dir) / "checkpoints";
    std::error_code error;
    if (!fs::is_directory(root, error)) return steps;
    for (const auto& entry : fs::directory_iterator(root)) {
        const std::string name = entry.path().filename().string();
        if (!entry.is_directory() || !name.starts_with("step-")) continue;
        try {
            steps.push_back(std::stoll(name.substr(5)));
        } catch (const std::exception&) {
        }
    }
    std::sort(steps.begin(), steps.end());
    return steps;
}

std::int64_t best_step(const std::string& output_dir) {
    const fs::path path = fs::path(output_dir) / "best.json";
    std::error_code error;
    if (!fs::exists(path, error)) return -1;
    const nlohmann::json j = read_json(path);
    if (!j.contains("step") || !j["step"].is_number_integer()) {
        fail("{}: expected {{\"step\": N, ...}}", path.string());
    }
    return j["step"].get<std::int64_t>();
}

// A renamed folder is durable once its parent folder is synced.
void sync_directory(const fs::path& directory) {
    const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
}

}  // namespace

std::string save_checkpoint(const std::string& output_dir, const MambaModel& model,
                            const AdamW& optimizer, const TrainerState& state,
                            const RunConfig& config, const Tokenizer& tokenizer) {
    const fs::path root = fs::path(output_dir) / "checkpoints";
    fs::create_directories(root);
    const fs::path final_path = root / step_name(state.step);
    const fs::path partial = root / fmt::format(".{}.partial", step_name(state.step));
    fs::remove_all(partial);
    fs::create_directories(partial);
    MambaWeights weights = model.weights();  // shares the model's storage
    io::NamedTensors tensors;
    for (const auto& [name, tensor] : weights.named_tensors()) tensors.emplace_back(name, *tensor);
    io::save_safetensors((partial / "model.safetensors").string(), tensors,
                         {{"format", "structseq"}});
    io::save_safetensors((partial / "optimizer.safetensors").string(), optimizer.moments());
    const nlohmann::json trainer_state = {
        {"step", state.step},
        {"tokens", state.tokens},
        {"best_val_loss", std::isfinite(state.best_val_loss) ? nlohmann::json(state.best_val_loss)
                                                             : nlohmann::json(nullptr)},
        {"best_step", state.best_step},
        {"seed", state.seed},
    };
    io::write_file_atomic((partial / "trainer_state.json").string(), trainer_state.dump(2) + "\n");
    io::write_file_atomic((partial / "config.yaml").string(), config.yaml);
    tokenizer.save(partial.string());
    fs::remove_all(final_path);
    fs::rename(partial, final_path);
    sync_directory(root);
    return final_path.string();
}

void mark_best_checkpoint(const std::string& output_dir, std::int64_t step, double val_loss) {
    const nlohmann::json j = {{"step", step}, {"val_loss", val_loss}};
    io::write_file_atomic((fs::path(output_dir) / "best.json").string(), j.dump(2) + "\n");
}

void rotate_checkpoints(const std::string& output_dir, std::int64_t keep) {
    const std::vector<std::int64_t> steps = checkpoint_steps(output_dir);
    const std::int64_t best = best_step(output_dir);
    const auto n = static_cast<std::int64_t>(steps.size());
    for (std::int64_t i = 0; i + keep < n; ++i) {
        const std::int64_t step = steps[static_cast<std::size_t>(i)];
        if (step == best) continue;
        fs::remove_all(fs::path(output_dir) / "checkpoints" / step_name(step));
    }
}

bool is_trained_model(const std::string& dir) {
    std::error_code error;
    return fs::is_directory(fs::path(dir) / "checkpoints", error) ||
           fs::exists(fs::path(dir) / "config.yaml", error);
}

std::string find_checkpoint(const std::string& model_dir, const std::string& which) {
    std::error_code error;
    if (fs::exists(fs::path(model_dir) / "config.yaml", error)) return model_dir;  // a checkpoint
    if (which == "best" || which == "latest") {
        const std::vector<std::int64_t> steps = checkpoint_steps(model_dir);
        if (steps.empty()) {
            fail(
                "{}: no checkpoints (expected {}/checkpoints/step-N folders written by "
                "`structseq train`)",
                model_dir, model_dir);
        }
        std::int64_t step = steps.back();
        if (which == "best") {
            const std::int64_t best = best_step(model_dir);
            if (best >= 0 && std::binary_search(steps.begin(), steps.end(), best)) step = best;
        }
        return (fs::path(model_dir) / "checkpoints" / step_name(step)).string();
    }
    if (!fs::is_directory(which, error)) {
        fail("--checkpoint: '{}' is neither best, latest nor a checkpoint folder", which);
    }
    return which;
}

LoadedCheckpoint load_checkpoint(const std::string& directory) {
    const fs::path dir(directory);
    RunConfig config =
        parse_run_config(read_text(dir / "config.yaml"), (dir / "config.yaml").string());
    MambaModel initial = init_language_model(config.model, 0);
    MambaWeights weights = initial.weights();  // each tensor is replaced by the loaded one
    const std::string model_path = (dir / "model.safetensors").string();
    const io::SafetensorsFile file = io::SafetensorsFile::open(model_path);
    for (const auto& [name, tensor] : weights.named_tensors()) {
        if (file.find(name) == nullptr) {
            fail("{}: tensor '{}' is missing (the checkpoint does not match its config.yaml)",
                 model_path, name);
        }
        const Tensor loaded = file.load(name, tensor->dtype());
        if (loaded.shape() != tensor->shape()) {
            fail("{}: tensor '{}' has shape {}, the configuration gives {}", model_path, name,
                 shape_string(loaded.shape()), shape_string(tensor->shape()));
        }
        *tensor = loaded;
    }
    const nlohmann::json j = read_json(dir / "trainer_state.json");
    TrainerState state;
    try {
        state.step = j.at("step").get<std::int64_t>();
        state.tokens = j.at("tokens").get<std::int64_t>();
        state.best_val_loss = j.at("best_val_loss").is_null()
                                  ? std::numeric_limits<double>::infinity()
                                  : j.at("best_val_loss").get<double>();
        state.best_step = j.at("best_step").get<std::int64_t>();
        state.seed = j.at("seed").get<std::uint64_t>();
    } catch (const nlohmann::json::exception& e) {
        fail("{}: {}", (dir / "trainer_state.json").string(), e.what());
    }
    return {directory, std::move(config), MambaModel(initial.config(), std::move(weights)),
            load_tokenizer(directory), state};
}

std::vector<std::pair<std::string, Tensor>> load_optimizer_moments(const std::string& directory) {
    const io::SafetensorsFile file =
        io::SafetensorsFile::open((fs::path(directory) / "optimizer.safetensors").string());
    std::vector<std::pair<std::string, Tensor>> moments;
    for (const io::SafetensorsEntry& e : file.entries())
        moments.emplace_back(e.name, file.load(e.name));
    return moments;
}

}  // namespace structseq
