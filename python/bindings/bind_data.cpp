// Python bindings of the data area: tokenizers.

#include "bindings.h"
#include "numpy_tensor.h"

#include "structseq/data/tokenizer.h"

#include <pybind11/stl.h>

namespace structseq::python {

void bind_data(py::module_& m) {
    py::class_<Tokenizer, std::shared_ptr<Tokenizer>>(
        m, "Tokenizer", "Text to token ids and back (structseq.load_tokenizer)")
        .def_property_readonly("type", &Tokenizer::type, "\"byte\" or \"huggingface\"")
        .def_property_readonly("vocab_size", &Tokenizer::vocab_size)
        .def(
            "encode", [](const Tokenizer& t, const std::string& text) { return t.encode(text); },
            py::arg("text"), "The token ids of a str (UTF-8) as a list of int")
        .def(
            "decode",
            [](const Tokenizer& t, const std::vector<std::int64_t>& ids) {
                const std::string bytes = t.decode(ids);
                return py::reinterpret_steal<py::str>(PyUnicode_DecodeUTF8(
                    bytes.data(), static_cast<Py_ssize_t>(bytes.size()), "replace"));
            },
            py::arg("ids"),
            "The text of token ids (added and special tokens included); malformed UTF-8 "
            "becomes U+FFFD");
    m.def(
        "load_tokenizer",
        [](const std::string& path) { return std::shared_ptr<Tokenizer>(load_tokenizer(path)); },
        py::arg("path"),
        "The tokenizer of a model directory or a tokenizer.json file: structseq's byte\n"
        "tokenizer, or a Hugging Face byte-level BPE (GPT-2 / GPT-NeoX style).");
}

}  // namespace structseq::python
