// Language models: structseq.load_model(directory) and structseq.init_model(yaml) → MambaLM.

#include "bindings.h"
#include "numpy_tensor.h"

#include "structseq/core/error.h"
#include "structseq/io/config.h"
#include "structseq/model/mamba_checkpoint.h"
#include "structseq/model/model_config.h"
#include "structseq/train/checkpoint.h"

#include <pybind11/stl.h>

#include <memory>
#include <string>

namespace py = pybind11;

namespace structseq::python {

namespace {

// A loaded model with the recurrent state of one sequence for step().
struct MambaLM {
    MambaModel model;
    MambaState state;
};

py::dict config_dict(const MambaConfig& c) {
    py::dict d;
    d["d_model"] = c.d_model;
    d["n_layer"] = c.n_layer;
    d["vocab_size"] = c.vocab_size;
    d["d_state"] = c.d_state;
    d["d_conv"] = c.d_conv;
    d["d_inner"] = c.d_inner;
    d["dt_rank"] = c.dt_rank;
    d["norm_eps"] = c.norm_eps;
    d["discretization"] = c.discretization;
    d["ffn_dim"] = c.ffn_dim;
    d["activation"] = c.activation;
    d["selective_param_class"] = c.selective_param_class;
    d["mixers"] = c.mixers.empty()
                      ? std::vector<std::string>(static_cast<std::size_t>(c.n_layer), "ssm")
                      : c.mixers;
    return d;
}

}  // namespace

void bind_model(py::module_& m) {
    py::class_<MambaLM, std::shared_ptr<MambaLM>>(
        m, "MambaLM",
        "A Mamba language model (float32, or bfloat16 step weights: load_model). logits(tokens) "
        "runs whole sequences; step(token)\n"
        "runs one token at a time on an internal state that starts empty; reset() empties it.")
        .def_property_readonly("config",
                               [](const MambaLM& lm) { return config_dict(lm.model.config()); })
        .def_property_readonly("parameter_count",
                               [](const MambaLM& lm) { return lm.model.parameter_count(); })
        .def_property_readonly(
            "weights",
            [](const MambaLM& lm) { return lm.model.bfloat16_weights() ? "bfloat16" : "float32"; })
        .def_property_readonly("tokens_seen",
                               [](const MambaLM& lm) { return lm.state.tokens_seen; })
        .def(
            "logits",
            [](const MambaLM& lm, const py::handle& tokens, bool last_only) {
                const py::array ids = py::array::ensure(
                    py::module_::import("numpy").attr("asarray")(tokens, "int64"));
                const Tensor t = tensor_from_numpy(ids, "MambaLM.logits", "tokens");
                return numpy_without_gil([&] { return lm.model.logits(t, last_only); });
            },
            py::arg("tokens"), py::arg("last_only") = false,
            "tokens: int array (batch, L) -> logits (batch, L, vocab) float32 over the padded\n"
            "vocabulary; last_only=True gives (batch, 1, vocab).")
        .def(
            "step",
            [](MambaLM& lm, std::int64_t token) {
                Tensor t({1}, DType::I64);
                t.data<std::int64_t>()[0] = token;
                return numpy_without_gil([&] {
                    return lm.model.step(t, lm.state).reshape({lm.model.config().vocab_size});
                });
            },
            py::arg("token"), "Feeds one token; returns the next-token logits (vocab,).")
        .def(
            "loss",
            [](const MambaLM& lm, const py::handle& tokens, const py::handle& targets) {
                const auto ids = [](const py::handle& a, const char* name) {
                    return tensor_from_numpy(
                        py::array::ensure(py::module_::import("numpy").attr("asarray")(a, "int64")),
                        "MambaLM.loss", name);
                };
                const Tensor t = ids(tokens, "tokens"), y = ids(targets, "targets");
                py::gil_scoped_release release;
                return lm.model.loss(t, y);
            },
            py::arg("tokens"), py::arg("targets"),
            "Mean next-token cross-entropy (nats) of logits(tokens) against targets, both int\n"
            "(batch, L); negative targets are ignored.")
        .def(
            "reset", [](MambaLM& lm) { lm.state = lm.model.initial_state(1); },
            "Empties the recurrent state.");

    m.def(
        "init_model",
        [](const std::string& yaml, std::uint64_t seed) {
            py::gil_scoped_release release;
            const io::Config config = io::parse_config(
                yaml, io::ConfigField::section({{"model", model_config_section()}}), "config");
            MambaModel model = init_language_model(language_model_config(config), seed);
            MambaState state = model.initial_state(1);
            return std::make_shared<MambaLM>(MambaLM{std::move(model), std::move(state)});
        },
        py::arg("config"), py::arg("seed") = 0,
        "A freshly initialized model from YAML text with a `model:` section (seed 002's keys:\n"
        "vocab_size, hidden_dim, state_dim, ffn_dim, num_layers, activation,\n"
        "selective_param_class, sparsity_level, ...; mixer: ssm | bk, or one per layer).\n"
        "Pass open(path).read() for a file.");

    m.def(
        "load_model",
        [](const std::string& directory, const std::string& checkpoint,
           const std::string& weights) {
            check_argument(weights == "float32" || weights == "bfloat16", "load_model", "weights",
                           "'" + weights + "'", "'float32' or 'bfloat16'");
            py::gil_scoped_release release;
            MambaModel model = is_trained_model(directory)
                                   ? load_checkpoint(find_checkpoint(directory, checkpoint)).model
                                   : load_mamba_checkpoint(directory);
            if (weights == "bfloat16") model.quantize_weights_to_bfloat16();
            MambaState state = model.initial_state(1);
            return std::make_shared<MambaLM>(MambaLM{std::move(model), std::move(state)});
        },
        py::arg("directory"), py::arg("checkpoint") = "best", py::arg("weights") = "float32",
        "Loads a Mamba checkpoint directory (state-spaces/mamba-* or transformers\n"
        "MambaForCausalLM layout: config.json + model.safetensors or its shards), or a run of\n"
        "`structseq train` (any mixers; `checkpoint`: best, latest or a checkpoint folder).\n"
        "weights='bfloat16' rounds the Mamba mixers' projections and the output head to\n"
        "bfloat16, which step() then reads at half the bytes; logits() uses the same rounded\n"
        "values.");
}

}  // namespace structseq::python
