// Python bindings of the io area: safetensors and .npy files.

#include "bindings.h"
#include "numpy_tensor.h"

#include "structseq/io/npy.h"
#include "structseq/io/safetensors.h"
#include "structseq/io/torch_checkpoint.h"

#include <pybind11/stl.h>

namespace structseq::python {

void bind_io(py::module_& m) {
    m.def(
        "load_torch_checkpoint",
        [](const std::string& path) {
            std::vector<std::pair<std::string, Tensor>> tensors;
            {
                py::gil_scoped_release release;
                tensors = io::load_torch_checkpoint(path);
            }
            py::dict out;
            for (const auto& [name, t] : tensors) out[py::str(name)] = numpy_from_tensor(t);
            return out;
        },
        py::arg("path"),
        "Read the tensors of a torch.save file (pytorch_model.bin) into a dict of arrays, with a\n"
        "restricted unpickler: only tensor-rebuild calls and plain containers are accepted, any\n"
        "other global is refused (ValueError) and nothing from the file is ever called.\n"
        "float16/bfloat16 widen to float32.");
    m.def(
        "load_safetensors",
        [](const std::string& path, const py::object& dtype) {
            const auto file = io::SafetensorsFile::open(path);
            py::dict out;
            for (const auto& entry : file.entries()) {
                Tensor t = dtype.is_none() ? file.load(entry.name)
                                           : file.load(entry.name, dtype_from_python(dtype));
                out[py::str(entry.name)] = numpy_from_tensor(t);
            }
            return out;
        },
        py::arg("path"), py::arg("dtype") = py::none(),
        "Read every tensor of a .safetensors file into a dict of arrays (F16/BF16 widen to\n"
        "float32; dtype='float32' or 'float64' converts all). The file is validated first.");
    m.def(
        "safetensors_metadata",
        [](const std::string& path) { return io::SafetensorsFile::open(path).metadata(); },
        py::arg("path"), "The __metadata__ map of a .safetensors file.");
    m.def(
        "save_safetensors",
        [](const std::string& path, const py::dict& tensors,
           const std::optional<std::map<std::string, std::string>>& metadata) {
            io::NamedTensors named;
            for (const auto& [name, array] : tensors) {
                const auto key = py::str(name).cast<std::string>();
                named.emplace_back(key, float_tensor_from_numpy(array, "save_safetensors",
                                                                fmt::format("tensors['{}']", key)));
            }
            py::gil_scoped_release release;
            io::save_safetensors(path, named,
                                 metadata.value_or(std::map<std::string, std::string>{}));
        },
        py::arg("path"), py::arg("tensors"), py::arg("metadata") = py::none(),
        "Write float32/float64 arrays to a .safetensors file atomically (temp file, fsync, "
        "rename).");
    m.def(
        "load_npy", [](const std::string& path) { return numpy_from_tensor(io::load_npy(path)); },
        py::arg("path"), "Read a .npy file (little-endian, C order).");
    m.def(
        "save_npy",
        [](const std::string& path, const py::handle& array) {
            const Tensor t = tensor_from_numpy(array, "save_npy", "array");
            py::gil_scoped_release release;
            io::save_npy(path, t);
        },
        py::arg("path"), py::arg("array"), "Write an array to a .npy file atomically.");
}

}  // namespace structseq::python
