#pragma once
// numpy arrays <-> Tensor without copies where the layout allows:
//  - a C-contiguous array of a supported dtype becomes a Tensor view that keeps the array alive;
//    any other layout is copied once into C order;
//  - a Tensor becomes an array over the same storage (strided views keep their strides).

#include "structseq/core/tensor.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string_view>

namespace structseq::python {

namespace py = pybind11;

Tensor tensor_from_numpy(const py::handle& object, std::string_view where,
                         std::string_view argument);
// As above, and the dtype must be float32 or float64.
Tensor float_tensor_from_numpy(const py::handle& object, std::string_view where,
                               std::string_view argument);
// As tensor_from_numpy, for numeric arguments: integer and bool arrays (and Python lists of
// ints) become float64; float32, float64, complex64 and complex128 pass through.
Tensor numeric_tensor_from_numpy(const py::handle& object, std::string_view where,
                                 std::string_view argument);
py::array numpy_from_tensor(const Tensor& tensor);

// Runs `compute` (which returns a Tensor) with the GIL released and hands back an array.
template <class F>
py::array numpy_without_gil(F&& compute) {
    Tensor out;
    {
        py::gil_scoped_release release;
        out = compute();
    }
    return numpy_from_tensor(out);
}

// "float32", np.float32 or np.dtype("float32") → DType.
DType dtype_from_python(const py::handle& dtype);

}  // namespace structseq::python
