// Python bindings of the bk area: the Birman–Schwinger resolvent layer.

#include "bindings.h"
#include "numpy_tensor.h"

#include "structseq/bk/birman_schwinger_core.h"
#include "structseq/nn/bk_block.h"

#include <pybind11/complex.h>
#include <pybind11/stl.h>

namespace structseq::python {

namespace {

using Complex = std::complex<double>;

std::vector<double> diagonal_from_python(const py::handle& x, const char* name) {
    const Tensor t = numeric_tensor_from_numpy(x, "BirmanSchwingerCore", name).to(DType::F64);
    check_argument(t.rank() == 1, "BirmanSchwingerCore", name, "shape " + shape_string(t.shape()),
                   "a 1-D array");
    return {t.data<double>(), t.data<double>() + t.numel()};
}

BirmanSchwingerCore make_core(std::int64_t n_seq, Complex z, const py::object& h0, double hopping,
                              const std::string& mode, bool use_semiseparable,
                              std::optional<std::int64_t> semiseparable_rank, bool checkpointing,
                              bool learnable_z, const py::handle& dtype, std::uint64_t seed) {
    BirmanSchwingerOptions o;
    o.n_seq = n_seq;
    o.z = z;
    o.hopping = hopping;
    if (py::isinstance<py::str>(h0)) {
        const auto name = h0.cast<std::string>();
        check_argument(name == "laplacian", "BirmanSchwingerCore", "h0", "'" + name + "'",
                       "'laplacian' or a tuple (a, b, c) of diagonals");
    } else {
        const auto parts = h0.cast<py::sequence>();
        check_argument(parts.size() == 3, "BirmanSchwingerCore", "h0",
                       fmt::format("a sequence of {} items", parts.size()),
                       "'laplacian' or a tuple (a, b, c) of diagonals");
        o.main_diag = diagonal_from_python(parts[0], "h0[0]");
        o.super_diag = diagonal_from_python(parts[1], "h0[1]");
        o.sub_diag = diagonal_from_python(parts[2], "h0[2]");
    }
    check_argument(mode == "bidirectional" || mode == "causal", "BirmanSchwingerCore", "mode",
                   "'" + mode + "'", "'bidirectional' or 'causal'");
    o.mode = mode == "causal" ? BkMode::Causal : BkMode::Bidirectional;
    o.gradient_checkpointing = checkpointing;
    o.learnable_z = learnable_z;
    o.dtype = dtype_from_python(dtype);
    o.use_semiseparable = use_semiseparable;
    if (semiseparable_rank) {
        check_argument(*semiseparable_rank >= 1, "BirmanSchwingerCore", "semiseparable_rank",
                       std::to_string(*semiseparable_rank), "a rank >= 1, or None");
        o.semiseparable_rank = *semiseparable_rank;
    }
    o.seed = seed;
    return BirmanSchwingerCore(std::move(o));
}

py::tuple forward(BirmanSchwingerCore& core, const py::handle& v, std::optional<Complex> z) {
    const Tensor t = numeric_tensor_from_numpy(v, "BirmanSchwingerCore", "v");
    BirmanSchwingerDiagnostics d;
    Tensor features;
    {
        py::gil_scoped_release release;
        features = core.forward(t, z, &d);
    }
    py::dict diagnostics;
    diagnostics["min_abs_pivot"] = d.min_abs_pivot;
    diagnostics["memory_bytes"] = d.memory_bytes;
    diagnostics["dense_bytes"] = d.dense_bytes;
    diagnostics["memory_savings"] = d.memory_savings;
    diagnostics["sequences"] = d.sequences;
    return py::make_tuple(numpy_from_tensor(features), diagnostics);
}

py::dict memory_dict(const BirmanSchwingerMemory& m) {
    py::dict d;
    d["parameters"] = m.parameters;
    d["optimizer"] = m.optimizer;
    d["activations"] = m.activations;
    d["step_peak"] = m.step_peak;
    d["total"] = m.total;
    d["dense_bytes"] = m.dense_bytes;
    d["memory_savings"] = m.memory_savings;
    return d;
}

}  // namespace

void bind_bk(py::module_& m) {
    py::class_<BirmanSchwingerCore>(m, "BirmanSchwingerCore",
                                    "Resolvent features (Re G_ii, Im G_ii) of H = H0 + diag(v), "
                                    "exact O(N) backward; modes 'bidirectional' and 'causal'.")
        .def(py::init(&make_core), py::arg("n_seq"), py::arg("z") = Complex(0.0, 1.0),
             py::arg("h0") = "laplacian", py::arg("hopping") = 1.0,
             py::arg("mode") = "bidirectional", py::arg("use_semiseparable") = false,
             py::arg("semiseparable_rank") = py::none(),
             py::arg("enable_gradient_checkpointing") = false, py::arg("learnable_z") = false,
             py::arg("dtype") = "complex128", py::arg("seed") = 0)
        .def("forward", &forward, py::arg("v"), py::arg("z") = py::none(),
             "v (B, N) or (B, C, N) -> (features (..., N, 2), diagnostics dict).\n"
             "v is kept (without a copy when its dtype is the compute precision) until\n"
             "backward: do not modify it in place in between.")
        .def("__call__", &forward, py::arg("v"), py::arg("z") = py::none())
        .def(
            "backward",
            [](BirmanSchwingerCore& core, const py::handle& grad) {
                const Tensor g =
                    numeric_tensor_from_numpy(grad, "BirmanSchwingerCore.backward", "grad_features");
                return numpy_without_gil([&] { return core.backward(g); });
            },
            py::arg("grad_features"),
            "grad_features (..., N, 2) -> grad_v (like v); accumulates grads['z'] (and 'U', "
            "'V' in semiseparable mode).")
        .def_property("z", &BirmanSchwingerCore::z, &BirmanSchwingerCore::set_z)
        .def_property_readonly("n_seq",
                               [](const BirmanSchwingerCore& c) { return c.options().n_seq; })
        .def_property_readonly("mode",
                               [](const BirmanSchwingerCore& c) {
                                   return c.options().mode == BkMode::Causal ? "causal"
                                                                             : "bidirectional";
                               })
        .def_property_readonly("learnable_z",
                               [](const BirmanSchwingerCore& c) { return c.options().learnable_z; },
                               "Whether an optimizer should update z (its gradient is always in "
                               "grads['z']).")
        .def_property_readonly("grads",
                               [](const BirmanSchwingerCore& c) {
                                   py::dict d;
                                   d["z"] = c.grad_z();
                                   if (c.options().use_semiseparable) {
                                       d["U"] = numpy_from_tensor(c.grad_U());
                                       d["V"] = numpy_from_tensor(c.grad_V());
                                   }
                                   return d;
                               })
        .def_property_readonly(
            "U",
            [](BirmanSchwingerCore& c) -> py::object {
                if (!c.options().use_semiseparable) return py::none();
                return numpy_from_tensor(c.U());
            },
            "The low-rank factor U (N, rank), a writable view (semiseparable mode).")
        .def_property_readonly(
            "V",
            [](BirmanSchwingerCore& c) -> py::object {
                if (!c.options().use_semiseparable) return py::none();
                return numpy_from_tensor(c.V());
            },
            "The low-rank factor V (N, rank), a writable view (semiseparable mode).")
        .def("zero_grad", &BirmanSchwingerCore::zero_grad)
        .def(
            "estimate_memory_usage",
            [](const BirmanSchwingerCore& c, std::int64_t batch_size,
               std::optional<bool> use_checkpointing) {
                return memory_dict(c.estimate_memory(
                    batch_size, use_checkpointing.value_or(c.options().gradient_checkpointing)));
            },
            py::arg("batch_size"), py::arg("use_checkpointing") = py::none(),
            "Bytes for one forward + backward over batch_size sequences (B x C): parameters,\n"
            "optimizer (Adam moments), activations, step_peak, total, dense_bytes, "
            "memory_savings.")
        .def(
            "compute_optimal_batch_size",
            [](const BirmanSchwingerCore& c, std::int64_t available, std::optional<bool> ckpt,
               double safety) {
                return c.optimal_batch_size(
                    available, ckpt.value_or(c.options().gradient_checkpointing), safety);
            },
            py::arg("available_memory_bytes"), py::arg("use_checkpointing") = py::none(),
            py::arg("safety_factor") = 0.8,
            "The largest batch whose estimated total fits safety_factor x available bytes.")
        .def(
            "get_memory_profile",
            [](const BirmanSchwingerCore& c) {
                py::dict profile;
                py::list history;
                for (const auto& h : c.history()) {
                    py::dict entry;
                    entry["sequences"] = h.sequences;
                    entry["activation_bytes"] = h.activation_bytes;
                    entry["min_abs_pivot"] = h.min_abs_pivot;
                    history.append(entry);
                }
                const std::int64_t last = c.history().empty() ? 1 : c.history().back().sequences;
                profile["memory_breakdown"] =
                    memory_dict(c.estimate_memory(last, c.options().gradient_checkpointing));
                profile["history"] = history;
                py::dict structure;
                structure["n_seq"] = c.options().n_seq;
                structure["use_semiseparable"] = c.options().use_semiseparable;
                structure["rank"] = c.options().use_semiseparable ? c.options().semiseparable_rank : 0;
                profile["structure"] = structure;
                return profile;
            },
            "memory_breakdown (for the last forward's batch), history of forwards, structure.")
        .def("saved_bytes", &BirmanSchwingerCore::saved_bytes,
             "Bytes held for backward after the last forward.");

    py::class_<BkBlock>(m, "BkBlock",
                        "The bk mixer: x + out_proj(BK(in_proj(x))) over (B, n_seq, d_model), "
                        "causal by default.")
        .def(py::init([](std::int64_t d_model, std::int64_t channels, std::int64_t n_seq,
                         const std::string& mode, const py::handle& dtype, Complex z,
                         bool learnable_z, std::uint64_t seed) {
                 check_argument(mode == "bidirectional" || mode == "causal", "BkBlock", "mode",
                                "'" + mode + "'", "'causal' or 'bidirectional'");
                 BkBlockOptions o;
                 o.d_model = d_model;
                 o.channels = channels;
                 o.n_seq = n_seq;
                 o.mode = mode == "causal" ? BkMode::Causal : BkMode::Bidirectional;
                 o.dtype = dtype_from_python(dtype);
                 o.z = z;
                 o.learnable_z = learnable_z;
                 o.seed = seed;
                 return BkBlock(o);
             }),
             py::arg("d_model"), py::arg("channels"), py::arg("n_seq"),
             py::arg("mode") = "causal", py::arg("dtype") = "float64",
             py::arg("z") = Complex(0.0, 1.0), py::arg("learnable_z") = false,
             py::arg("seed") = 0)
        .def(
            "forward",
            [](BkBlock& b, const py::handle& x) {
                const Tensor t = numeric_tensor_from_numpy(x, "BkBlock", "x");
                return numpy_without_gil([&] { return b.forward(t); });
            },
            py::arg("x"), "x (B, n_seq, d_model) -> y, same shape.")
        .def(
            "backward",
            [](BkBlock& b, const py::handle& dy) {
                const Tensor t = numeric_tensor_from_numpy(dy, "BkBlock.backward", "dy");
                return numpy_without_gil([&] { return b.backward(t); });
            },
            py::arg("dy"), "dy -> dx; accumulates the parameter gradients (grads).")
        .def(
            "parameters",
            [](BkBlock& b) {
                py::dict d;
                for (const auto& [name, t] : b.parameters()) d[py::str(name)] = numpy_from_tensor(*t);
                return d;
            },
            "name -> writable view of the parameter.")
        .def_property_readonly("grads",
                               [](const BkBlock& b) {
                                   py::dict d;
                                   for (const auto& [name, t] : b.gradients()) {
                                       d[py::str(name)] = numpy_from_tensor(*t);
                                   }
                                   return d;
                               })
        .def("zero_grad", &BkBlock::zero_grad);
}

}  // namespace structseq::python
