// Python bindings of the linalg area: tridiagonal and semiseparable matrices, randomized SVD,
// Sherman–Morrison / Woodbury and ridge shrinkage.

#include "bindings.h"
#include "numpy_tensor.h"

#include "structseq/linalg/svd.h"
#include "structseq/linalg/tridiagonal.h"

#include <pybind11/complex.h>
#include <pybind11/stl.h>

namespace structseq::python {

namespace {

using Complex = std::complex<double>;

py::tuple svd_tuple(const SvdResult& r) {
    return py::make_tuple(numpy_from_tensor(r.U), numpy_from_tensor(r.S),
                          numpy_from_tensor(r.Vh));
}

}  // namespace

void bind_linalg(py::module_& m) {
    m.def(
        "tridiagonal_matvec",
        [](const py::handle& a, const py::handle& b, const py::handle& c, const py::handle& x) {
            constexpr const char* where = "tridiagonal_matvec";
            const Tensor ta = numeric_tensor_from_numpy(a, where, "a");
            const Tensor tb = numeric_tensor_from_numpy(b, where, "b");
            const Tensor tc = numeric_tensor_from_numpy(c, where, "c");
            const Tensor tx = numeric_tensor_from_numpy(x, where, "x");
            return numpy_without_gil([&] { return tridiagonal_matvec(ta, tb, tc, tx); });
        },
        py::arg("a"), py::arg("b"), py::arg("c"), py::arg("x"),
        "y = T x for T with main diagonal a (..., N), super-diagonal b (..., N-1) and\n"
        "sub-diagonal c (..., N-1); x (..., N). Operands without batch dimensions are shared.");
    m.def(
        "tridiagonal_solve",
        [](const py::handle& a, const py::handle& b, const py::handle& c, const py::handle& rhs,
           Complex z) {
            constexpr const char* where = "tridiagonal_solve";
            const Tensor ta = numeric_tensor_from_numpy(a, where, "a");
            const Tensor tb = numeric_tensor_from_numpy(b, where, "b");
            const Tensor tc = numeric_tensor_from_numpy(c, where, "c");
            const Tensor tr = numeric_tensor_from_numpy(rhs, where, "rhs");
            return numpy_without_gil([&] { return tridiagonal_solve(ta, tb, tc, tr, z); });
        },
        py::arg("a"), py::arg("b"), py::arg("c"), py::arg("rhs"), py::arg("z") = 0.0,
        "x = (T - zI)^-1 rhs by LU with partial pivoting (as LAPACK gtsv). Real when rhs is real\n"
        "and z is real, else complex. A singular system raises ValueError.");
    m.def(
        "tridiagonal_resolvent_diagonal",
        [](const py::handle& a, const py::handle& b, const py::handle& c, Complex z) {
            constexpr const char* where = "tridiagonal_resolvent_diagonal";
            const Tensor ta = numeric_tensor_from_numpy(a, where, "a");
            const Tensor tb = numeric_tensor_from_numpy(b, where, "b");
            const Tensor tc = numeric_tensor_from_numpy(c, where, "c");
            return numpy_without_gil([&] { return tridiagonal_resolvent_diagonal(ta, tb, tc, z); });
        },
        py::arg("a"), py::arg("b"), py::arg("c"), py::arg("z"),
        "diag((T - zI)^-1) in O(N) by forward and backward pivots (never the overflowing\n"
        "theta/phi determinants). complex64 for float32 input, complex128 for float64.");
    m.def(
        "tridiagonal_resolvent_entries",
        [](const py::handle& a, const py::handle& b, const py::handle& c, Complex z,
           const py::handle& rows, const py::handle& cols) {
            constexpr const char* where = "tridiagonal_resolvent_entries";
            const Tensor ta = numeric_tensor_from_numpy(a, where, "a");
            const Tensor tb = numeric_tensor_from_numpy(b, where, "b");
            const Tensor tc = numeric_tensor_from_numpy(c, where, "c");
            const Tensor tr = tensor_from_numpy(rows, where, "rows");
            const Tensor tk = tensor_from_numpy(cols, where, "cols");
            return numpy_without_gil([&] { return tridiagonal_resolvent_entries(ta, tb, tc, z, tr, tk); });
        },
        py::arg("a"), py::arg("b"), py::arg("c"), py::arg("z"), py::arg("rows"), py::arg("cols"),
        "G[rows[k], cols[k]] of G = (T - zI)^-1, O(1) per entry after an O(N) set-up\n"
        "(products of pivot ratios kept as sums of logarithms).");
    m.def(
        "full_svd",
        [](const py::handle& M) {
            const Tensor t = numeric_tensor_from_numpy(M, "full_svd", "M");
            SvdResult r;
            {
                py::gil_scoped_release release;
                r = full_svd(t);
            }
            return svd_tuple(r);
        },
        py::arg("M"),
        "Thin SVD of M (..., m, n) by LAPACK gesdd: (U (..., m, K), S (..., K), Vh (..., K, n)),\n"
        "K = min(m, n), singular values descending.");
    m.def(
        "batched_randomized_svd",
        [](const py::handle& M, std::int64_t k, std::int64_t n_iter, std::int64_t oversampling,
           std::uint64_t seed) {
            const Tensor t = numeric_tensor_from_numpy(M, "batched_randomized_svd", "M");
            SvdResult r;
            {
                py::gil_scoped_release release;
                r = batched_randomized_svd(t, k, n_iter, oversampling, seed);
            }
            return svd_tuple(r);
        },
        py::arg("M"), py::arg("k"), py::arg("n_iter") = 2, py::arg("oversampling") = 5,
        py::arg("seed") = 0,
        "Rank-k randomized SVD (Halko et al. 2011) of M (B, m, n): (U (B, m, k), S (B, k),\n"
        "Vh (B, k, n)). Gaussian sketch with k + oversampling columns, n_iter power iterations\n"
        "re-orthonormalized by QR after every product; the full SVD when k + oversampling >=\n"
        "min(m, n). Same seed, same result.");
}

}  // namespace structseq::python
