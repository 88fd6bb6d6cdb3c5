#include "structseq/train/trainer.h"

#include "structseq/train/checkpoint.h"
#include "test_util.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace structseq {
namespace {

namespace fs = std::filesystem;

// A micro configuration on a small text file: 2 layers of width 16, 24-token windows.
RunConfig micro_config(const std::string& data_path, std::int64_t max_steps) {
    return parse_run_config(fmt::format(R"(
model: {{vocab_size: 256, hidden_dim: 16, state_dim: 4, ffn_dim: 0, num_layers: 2,
         max_seq_len: 24, dropout: 0.1, selective_param_class: dense}}
training: {{batch_size: 2, gradient_accumulation_steps: 2, max_steps: {}, logging_steps: 1,
            eval_steps: 3, save_steps: 2, save_total_limit: 2, mixed_precision: "no",
            gradient_checkpointing: false}}
optimizer: {{learning_rate: 1.0e-2}}
scheduler: {{name: cosine, warmup_steps: 2}}
dataset: {{type: custom, data_path: "{}", max_seq_len: 24, stride: 12, val_split: 0.2,
           test_split: 0.2}}
)",
                                        max_steps, data_path),
                            "micro.yaml");
}

std::string write_corpus(const testing::TempDir& dir) {
    std::string text;
    for (int i = 0; i < 40; ++i) {
        text += fmt::format("Paragraph {} says the quick brown fox jumps over {} lazy dogs.\n\n", i,
                            i * 7 % 13);
    }
    testing::write_bytes(dir.file("corpus.txt"), text);
    return dir.file("corpus.txt");
}

std::vector<double> train_losses(const std::string& output_dir) {
    std::ifstream in(output_dir + "/metrics.jsonl");
    std::vector<double> losses;
    std::string line;
    while (std::getline(in, line)) {
        const auto j = nlohmann::json::parse(line);
        if (j["split"] == "train") losses.push_back(j["loss"].get<double>());
    }
    return losses;
}

TEST(Trainer, LossFallsAndCheckpointsRotateKeepingTheBest) {
    testing::TempDir dir;
    TrainOptions options;
    options.output_dir = dir.file("run");
    options.progress = false;
    const TrainResult r = train_language_model(micro_config(write_corpus(dir), 12), options);
    EXPECT_EQ(r.steps, 12);
    const std::vector<double> losses = train_losses(options.output_dir);
    ASSERT_EQ(losses.size(), 12u);
    EXPECT_NEAR(losses.front(), std::log(256.0), 0.3);
    EXPECT_LT(losses.back(), losses.front() - 1.0);
    EXPECT_TRUE(std::isfinite(r.val_loss));
    EXPECT_TRUE(std::isfinite(r.test_loss));
    // Saves at 2, 4, …, 12 and at each new best (evaluations at 3, 6, 9, 12): the newest two
    // are kept, and the best.
    std::vector<std::string> kept;
    for (const auto& e : fs::directory_iterator(options.output_dir + "/checkpoints")) {
        kept.push_back(e.path().filename().string());
    }
    std::sort(kept.begin(), kept.end());
    const LoadedCheckpoint best = load_checkpoint(find_checkpoint(options.output_dir, "best"));
    EXPECT_EQ(best.state.best_step, best.state.step);
    EXPECT_LE(kept.size(), 3u);
    EXPECT_EQ(kept.back(), "step-00000012");
    EXPECT_EQ(find_checkpoint(options.output_dir, "latest"),
              options.output_dir + "/checkpoints/step-00000012");
}

// A run paused after 5 steps and resumed gives the same loss at every step, and the same
// weights, as a run that was never interrupted.
TEST(Trainer, ResumeRepeatsAnUninterruptedRunBitForBit) {
    testing::TempDir dir;
    const RunConfig config = micro_config(write_corpus(dir), 9);
    TrainOptions whole;
    whole.output_dir = dir.file("whole");
    whole.progress = false;
    train_language_model(config, whole);
    TrainOptions paused = whole;
    paused.output_dir = dir.file("paused");
    paused.stop_after = 5;
    EXPECT_EQ(train_language_model(config, paused).steps, 5);
    paused.stop_after = 0;
    paused.resume = true;
    EXPECT_EQ(train_language_model(config, paused).steps, 9);
    EXPECT_EQ(train_losses(whole.output_dir), train_losses(paused.output_dir));
    const LoadedCheckpoint a = load_checkpoint(find_checkpoint(whole.output_dir, "latest"));
    const LoadedCheckpoint b = load_checkpoint(find_checkpoint(paused.output_dir, "latest"));
    MambaWeights wa = a.model.weights(), wb = b.model.weights();
    const auto na = wa.named_tensors(), nb = wb.named_tensors();
    ASSERT_EQ(na.size(), nb.size());
    for (std::size_t i = 0; i < na.size(); ++i) {
        const Tensor& x = *na[i].second;
        const Tensor& y = *nb[i].second;
        EXPECT_EQ(0, std::memcmp(x.raw_data(), y.raw_data(), static_cast<std::size_t>(x.nbytes())))
            << na[i].first;
    }
}

TEST(Trainer, ClearErrors) {
    testing::TempDir dir;
    TrainOptions options;
    options.output_dir = dir.file("run");
    options.progress = false;
    RunConfig config = micro_config(write_corpus(dir), 2);
    config.model.mamba.vocab_size = 100;
    EXPECT_THROW(train_language_model(config, options), Error);  // vocabulary too small
    testing::write_bytes(dir.file("empty.txt"), "\n\n");
    EXPECT_THROW(train_language_model(micro_config(dir.file("empty.txt"), 2), options), Error);
    options.resume = true;
    EXPECT_THROW(train_language_model(micro_config(write_corpus(dir), 2), options), Error);
    EXPECT_THROW(parse_run_config("training: {batch_sise: 2}", "x.yaml"), Error);
}

}  // namespace
}  // namespace structseq
