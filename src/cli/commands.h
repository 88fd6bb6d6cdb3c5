#pragma once
// Each subcommand registers its options on the app and returns the function that runs it.
// A run returns the process exit code; structseq::Error thrown from it exits with 1.

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace structseq {
class MambaModel;
}

namespace structseq::cli {

struct Command {
    CLI::App* app;
    std::function<int()> run;
};

Command add_demo_command(CLI::App& parent);
Command add_info_command(CLI::App& parent);
Command add_inspect_command(CLI::App& parent);
Command add_eval_command(CLI::App& parent);
Command add_train_command(CLI::App& parent);
Command add_generate_command(CLI::App& parent);
Command add_create_synthetic_command(CLI::App& parent);
Command add_attention_map_command(CLI::App& parent);

// --weights float32|bfloat16 (generate, eval): the precision of the weights a token reads, and
// applying it to a loaded model (MambaModel::quantize_weights_to_bfloat16).
void add_weights_option(CLI::App* app, std::string* weights);
void apply_weights_option(MambaModel& model, const std::string& weights);

// What `structseq inspect PATH` prints: the tensors of a .safetensors or .npy file
// (name, dtype, shape, bytes) and its metadata.
void print_file_summary(const std::string& path);

}  // namespace structseq::cli
