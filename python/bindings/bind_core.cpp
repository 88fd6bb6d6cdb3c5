// Python bindings of the core area: threads, build information, random numbers.

#include "bindings.h"
#include "numpy_tensor.h"

#include "structseq/core/build_info.h"
#include "structseq/core/memory_stats.h"
#include "structseq/core/rng.h"
#include "structseq/core/threads.h"

#include <pybind11/stl.h>

namespace structseq::python {

namespace {

Shape shape_from_python(const py::handle& shape) {
    if (py::isinstance<py::int_>(shape)) return {shape.cast<std::int64_t>()};
    return shape.cast<Shape>();
}

py::array random_array(const py::handle& shape, std::uint64_t seed, const py::handle& dtype,
                       std::uint64_t stream, std::uint64_t offset, bool normal, double a,
                       double b) {
    const DType type = dtype_from_python(dtype);
    check_argument(type == DType::F32 || type == DType::F64,
                   normal ? "random_normal" : "random_uniform", "dtype", dtype_name(type),
                   "float32 or float64");
    Tensor out = Tensor::empty(shape_from_python(shape), type);
    Rng rng(seed, stream);
    rng.set_offset(offset);
    {
        py::gil_scoped_release release;
        normal ? rng.normal(out, a, b) : rng.uniform(out, a, b);
    }
    return numpy_from_tensor(out);
}

}  // namespace

void bind_core(py::module_& m) {
    m.def("set_num_threads", &set_num_threads, py::arg("n"),
          "Set the number of threads used by every parallel kernel (and OpenBLAS).");
    m.def("get_num_threads", &num_threads, "The number of threads parallel kernels use.");
    m.def(
        "build_info",
        [] {
            py::dict info;
            for (const auto& [key, value] : build_info()) info[py::str(key)] = value;
            return info;
        },
        "Version, compiler, build options, threads and BLAS, as a dict.");
    m.def(
        "random_normal",
        [](const py::handle& shape, std::uint64_t seed, const py::handle& dtype, double mean,
           double std, std::uint64_t stream, std::uint64_t offset) {
            return random_array(shape, seed, dtype, stream, offset, true, mean, std);
        },
        py::arg("shape"), py::arg("seed") = 0, py::arg("dtype") = "float32", py::arg("mean") = 0.0,
        py::arg("std") = 1.0, py::arg("stream") = 0, py::arg("offset") = 0,
        "Normal samples from the counter-based generator: element i depends only on\n"
        "(seed, stream, offset + i), so results do not depend on the thread count.");
    m.def(
        "random_uniform",
        [](const py::handle& shape, std::uint64_t seed, const py::handle& dtype, double low,
           double high, std::uint64_t stream, std::uint64_t offset) {
            return random_array(shape, seed, dtype, stream, offset, false, low, high);
        },
        py::arg("shape"), py::arg("seed") = 0, py::arg("dtype") = "float32", py::arg("low") = 0.0,
        py::arg("high") = 1.0, py::arg("stream") = 0, py::arg("offset") = 0,
        "Uniform samples in [low, high) from the counter-based generator.");
    m.def("tensor_bytes_live", &tensor_bytes_live,
          "Bytes of tensor storage the library holds now (numpy-borrowed arrays excluded).");
    m.def("tensor_bytes_peak", &tensor_bytes_peak,
          "Peak of tensor_bytes_live since reset_tensor_bytes_peak().");
    m.def("reset_tensor_bytes_peak", &reset_tensor_bytes_peak);
    m.def(
        "_view_roundtrip",
        [](const py::handle& array) {
            return numpy_from_tensor(tensor_from_numpy(array, "_view_roundtrip", "array"));
        },
        py::arg("array"), "numpy → Tensor → numpy; shares memory when the input is C-contiguous.");
}

}  // namespace structseq::python
