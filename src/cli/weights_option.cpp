// --weights float32|bfloat16 for the commands that run a model (commands.h).

#include "commands.h"

#include "structseq/model/mamba_model.h"

namespace structseq::cli {

void add_weights_option(CLI::App* app, std::string* weights) {
    app->add_option("--weights", *weights,
                    "Precision of the weights each token reads: bfloat16 rounds the Mamba "
                    "mixers' projections and the output head to bfloat16, and generation reads "
                    "half the bytes per token (faster where it waits on memory)")
        ->check(CLI::IsMember({"float32", "bfloat16"}))
        ->capture_default_str();
}

void apply_weights_option(MambaModel& model, const std::string& weights) {
    if (weights == "bfloat16") model.quantize_weights_to_bfloat16();
}

}  // namespace structseq::cli
