#pragma once
// One binding function per area; module.cpp calls them all.

#include <pybind11/pybind11.h>

namespace structseq::python {

void bind_attention(pybind11::module_& m);
void bind_core(pybind11::module_& m);
void bind_data(pybind11::module_& m);
void bind_bk(pybind11::module_& m);
void bind_io(pybind11::module_& m);
void bind_linalg(pybind11::module_& m);
void bind_ssm(pybind11::module_& m);
void bind_model(pybind11::module_& m);

}  // namespace structseq::python
