// structseq._core: the compiled half of the Python module. structseq.Error becomes ValueError
// with the same message.

#include "bindings.h"

#include "structseq/build_config.h"
#include "structseq/core/error.h"

PYBIND11_MODULE(_core, m) {
    m.doc() = "structseq: structured sequence models (compiled core)";
    m.attr("__version__") = structseq::build::version;
    pybind11::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const structseq::Error& e) {
            PyErr_SetString(PyExc_ValueError, e.what());
        }
    });
    structseq::python::bind_core(m);
    structseq::python::bind_io(m);
    structseq::python::bind_data(m);
    structseq::python::bind_linalg(m);
    structseq::python::bind_bk(m);
    structseq::python::bind_ssm(m);
    structseq::python::bind_model(m);
    structseq::python::bind_attention(m);
}
