#include "numpy_tensor.h"

#include <memory>

namespace structseq::python {

namespace {

// numpy's dtype names ("float32", "int8", ...) are ours.
DType dtype_of_array(const py::array& array, std::string_view where, std::string_view argument) {
    const auto name = py::str(array.attr("dtype").attr("name")).cast<std::string>();
    if (const auto dtype = find_dtype(name)) return *dtype;
    fail_argument(where, argument, fmt::format("an array of dtype {}", name),
                  "float32, float64, complex64, complex128, int8, uint8, int32 or int64");
}

}  // namespace

Tensor tensor_from_numpy(const py::handle& object, std::string_view where,
                         std::string_view argument) {
    const py::array array = py::array::ensure(object, py::array::c_style);
    if (!array) {
        fail_argument(where, argument,
                      fmt::format("a {}", py::str(py::type::of(object)).cast<std::string>()),
                      "a numpy array or something numpy.asarray accepts");
    }
    const DType dtype = dtype_of_array(array, where, argument);
    Shape shape(array.shape(), array.shape() + array.ndim());
    auto* keep = new py::object(array);
    std::shared_ptr<const void> owner(keep, [](const void* p) {
        py::gil_scoped_acquire gil;
        delete static_cast<const py::object*>(p);
    });
    return Tensor::borrow(const_cast<void*>(array.data()), std::move(shape), dtype,
                          std::move(owner));
}

Tensor float_tensor_from_numpy(const py::handle& object, std::string_view where,
                               std::string_view argument) {
    Tensor tensor = tensor_from_numpy(object, where, argument);
    if (tensor.dtype() != DType::F32 && tensor.dtype() != DType::F64) {
        fail_argument(where, argument,
                      fmt::format("an array of dtype {}", dtype_name(tensor.dtype())),
                      "float32 or float64");
    }
    return tensor;
}

Tensor numeric_tensor_from_numpy(const py::handle& object, std::string_view where,
                                 std::string_view argument) {
    const py::array array = py::array::ensure(object, py::array::c_style);
    if (array) {
        const auto kind = py::str(array.attr("dtype").attr("kind")).cast<std::string>();
        if (kind == "i" || kind == "u" || kind == "b") {
            return tensor_from_numpy(array.attr("astype")("float64"), where, argument);
        }
    }
    return tensor_from_numpy(object, where, argument);
}

py::array numpy_from_tensor(const Tensor& tensor) {
    if (!tensor.defined()) fail("internal error: returning an undefined tensor to Python");
    auto* holder = new std::shared_ptr<Storage>(tensor.storage());
    py::capsule owner(holder, [](void* p) { delete static_cast<std::shared_ptr<Storage>*>(p); });
    const auto element = static_cast<py::ssize_t>(dtype_size(tensor.dtype()));
    std::vector<py::ssize_t> strides;
    for (std::int64_t s : tensor.strides()) strides.push_back(s * element);
    const std::vector<py::ssize_t> shape(tensor.shape().begin(), tensor.shape().end());
    return py::array(py::dtype(std::string(dtype_name(tensor.dtype()))), shape, strides,
                     tensor.raw_data(), owner);
}

DType dtype_from_python(const py::handle& dtype) {
    const py::module_ numpy = py::module_::import("numpy");
    return dtype_from_name(py::str(numpy.attr("dtype")(dtype).attr("name")).cast<std::string>());
}

}  // namespace structseq::python
