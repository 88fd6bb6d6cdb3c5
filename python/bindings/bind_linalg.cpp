// Python bindings of the linalg area: tridiagonal and semiseparable matrices, randomized SVD,
// Sherman–Morrison / Woodbury and ridge shrinkage.

#include "bindings.h"
#include "numpy_tensor.h"

#include "structseq/linalg/low_rank_update.h"
#include "structseq/linalg/ridge_shrinkage.h"
#include "structseq/linalg/semiseparable.h"
#include "structseq/linalg/semiseparable_factorization.h"
#include "structseq/linalg/svd.h"
#include "structseq/linalg/tridiagonal.h"

#include <pybind11/complex.h>
#include <pybind11/stl.h>

namespace structseq::python {

namespace {

using Complex = std::complex<double>;

py::dict gradients_dict(const SemiseparableGradients& g) {
    py::dict d;
    d["dx"] = numpy_from_tensor(g.dx);
    d["dmain_diag"] = numpy_from_tensor(g.dmain_diag);
    d["dsuper_diag"] = numpy_from_tensor(g.dsuper_diag);
    d["dsub_diag"] = numpy_from_tensor(g.dsub_diag);
    d["dU"] = numpy_from_tensor(g.dU);
    d["dV"] = numpy_from_tensor(g.dV);
    return d;
}

// Methods taking one array argument and returning one array, GIL released.
template <class Method>
auto array_method(Method method, const char* where, const char* argument) {
    return [method, where, argument](const SemiseparableMatrix& self, const py::handle& x) {
        const Tensor t = numeric_tensor_from_numpy(x, where, argument);
        return numpy_without_gil([&] { return (self.*method)(t); });
    };
}

void bind_semiseparable(py::module_& m) {
    py::class_<SemiseparableMatrix>(m, "SemiseparableMatrix", py::dynamic_attr(),
                                    "H = T + U V^T: tridiagonal T (main_diag, super_diag, "
                                    "sub_diag) plus rank-r U V^T, U and V (N, r).")
        .def(py::init([](const py::handle& main_diag, const py::handle& super_diag,
                         const py::handle& sub_diag, const py::handle& U, const py::handle& V) {
                 constexpr const char* where = "SemiseparableMatrix";
                 return SemiseparableMatrix(
                     numeric_tensor_from_numpy(main_diag, where, "main_diag"),
                     numeric_tensor_from_numpy(super_diag, where, "super_diag"),
                     numeric_tensor_from_numpy(sub_diag, where, "sub_diag"),
                     numeric_tensor_from_numpy(U, where, "U"),
                     numeric_tensor_from_numpy(V, where, "V"));
             }),
             py::arg("main_diag"), py::arg("super_diag"), py::arg("sub_diag"), py::arg("U"),
             py::arg("V"))
        .def_property_readonly(
            "main_diag", [](const SemiseparableMatrix& s) { return numpy_from_tensor(s.main_diag()); })
        .def_property_readonly(
            "super_diag", [](const SemiseparableMatrix& s) { return numpy_from_tensor(s.super_diag()); })
        .def_property_readonly(
            "sub_diag", [](const SemiseparableMatrix& s) { return numpy_from_tensor(s.sub_diag()); })
        .def_property_readonly("U", [](const SemiseparableMatrix& s) { return numpy_from_tensor(s.U()); })
        .def_property_readonly("V", [](const SemiseparableMatrix& s) { return numpy_from_tensor(s.V()); })
        .def_property_readonly("rank", &SemiseparableMatrix::rank)
        .def_property_readonly("n", &SemiseparableMatrix::size, "N, the matrix size")
        .def_property_readonly("dtype", [](const SemiseparableMatrix& s) {
            return std::string(dtype_name(s.dtype()));
        })
        .def("matvec", array_method(&SemiseparableMatrix::matvec, "SemiseparableMatrix.matvec", "x"),
             py::arg("x"), "H x for x of shape (N,) or (B, N), O(B N r).")
        .def("rmatvec",
             array_method(&SemiseparableMatrix::rmatvec, "SemiseparableMatrix.rmatvec", "x"),
             py::arg("x"), "H^T x for x of shape (N,) or (B, N).")
        .def("matmat",
             array_method(&SemiseparableMatrix::matmat, "SemiseparableMatrix.matmat", "X"),
             py::arg("X"), "H X for X of shape (N, K).")
        .def("to_dense",
             [](const SemiseparableMatrix& s) {
                 return numpy_without_gil([&] { return s.to_dense(); });
             },
             "The dense (N, N) matrix.")
        .def(
            "solve",
            [](const SemiseparableMatrix& s, const py::handle& rhs, Complex z) {
                const Tensor t = numeric_tensor_from_numpy(rhs, "SemiseparableMatrix.solve", "rhs");
                return numpy_without_gil([&] { return s.solve(t, z); });
            },
            py::arg("rhs"), py::arg("z") = 0.0,
            "(H - zI)^-1 rhs by Woodbury, O(N r^2 + r^3) (rhs (N,) or (B, N)).")
        .def(
            "resolvent_diagonal",
            [](const SemiseparableMatrix& s, Complex z) {
                return numpy_without_gil([&] { return s.resolvent_diagonal(z); });
            },
            py::arg("z"), "diag((H - zI)^-1) by Woodbury, O(N r^2 + r^3).")
        .def(
            "get_memory_usage",
            [](const SemiseparableMatrix& s) {
                const SemiseparableMemory mem = s.memory_usage();
                py::dict d;
                d["tridiagonal_bytes"] = mem.tridiagonal_bytes;
                d["lowrank_bytes"] = mem.lowrank_bytes;
                d["total_bytes"] = mem.total_bytes;
                d["dense_bytes"] = mem.dense_bytes;
                d["memory_reduction"] = mem.memory_reduction;
                return d;
            },
            "Bytes of the tridiagonal part (3N - 2 scalars), the low-rank part (2Nr), their "
            "total, the dense N^2, and 1 - total / dense.")
        .def(
            "verify_factorization",
            [](const SemiseparableMatrix& s, const py::handle& H, double tolerance) {
                const Tensor t =
                    numeric_tensor_from_numpy(H, "SemiseparableMatrix.verify_factorization", "H");
                const FactorizationCheck c = s.verify_factorization(t, tolerance);
                py::dict d;
                d["frobenius_error"] = c.frobenius_error;
                d["relative_error"] = c.relative_error;
                d["passes_tolerance"] = c.passes_tolerance;
                return d;
            },
            py::arg("H"), py::arg("tolerance") = 1e-2,
            "||H - (T + U V^T)||_F, relative to ||H||_F, and whether it is <= tolerance.")
        .def(
            "matvec_backward",
            [](const SemiseparableMatrix& s, const py::handle& dout, const py::handle& x) {
                constexpr const char* where = "SemiseparableMatrix.matvec_backward";
                const Tensor d = numeric_tensor_from_numpy(dout, where, "dout");
                const Tensor t = numeric_tensor_from_numpy(x, where, "x");
                SemiseparableGradients g;
                {
                    py::gil_scoped_release release;
                    g = s.matvec_backward(d, t);
                }
                return gradients_dict(g);
            },
            py::arg("dout"), py::arg("x"),
            "Gradients of y = H x given dout = dL/dy: dict with dx, dmain_diag, dsuper_diag,\n"
            "dsub_diag, dU, dV.")
        .def("enable_checkpointing", &SemiseparableMatrix::enable_checkpointing,
             py::arg("enabled") = true,
             "checkpoint_forward then saves only x and recomputes V^T x in backward.")
        .def_property_readonly("checkpointing", &SemiseparableMatrix::checkpointing_enabled)
        .def(
            "checkpoint_forward",
            [](SemiseparableMatrix& s, const py::handle& x) {
                const Tensor t =
                    numeric_tensor_from_numpy(x, "SemiseparableMatrix.checkpoint_forward", "x");
                return numpy_without_gil([&] { return s.checkpoint_forward(t); });
            },
            py::arg("x"), "H x, saving what checkpoint_backward needs.")
        .def(
            "checkpoint_backward",
            [](SemiseparableMatrix& s, const py::handle& dout) {
                const Tensor d = numeric_tensor_from_numpy(
                    dout, "SemiseparableMatrix.checkpoint_backward", "dout");
                SemiseparableGradients g;
                {
                    py::gil_scoped_release release;
                    g = s.checkpoint_backward(d);
                }
                return gradients_dict(g);
            },
            py::arg("dout"), "Gradients for the last checkpoint_forward (as matvec_backward).")
        .def("saved_bytes", &SemiseparableMatrix::saved_bytes,
             "Bytes of activations held between checkpoint_forward and checkpoint_backward.")
        .def("__repr__", [](const SemiseparableMatrix& s) {
            return fmt::format("SemiseparableMatrix(n={}, rank={}, dtype={})", s.size(), s.rank(),
                               dtype_name(s.dtype()));
        });

    m.def(
        "create_semiseparable_from_dense",
        [](const py::handle& H, std::optional<std::int64_t> rank,
           std::optional<double> target_error, const std::string& method, std::int64_t max_iter,
           double tol, std::uint64_t seed) {
            const Tensor t = numeric_tensor_from_numpy(H, "create_semiseparable_from_dense", "H");
            SemiseparableFitOptions options;
            options.rank = rank;
            options.target_error = target_error;
            options.method = method;
            options.max_iter = max_iter;
            options.tol = tol;
            options.seed = seed;
            SemiseparableFitReport report;
            std::optional<SemiseparableMatrix> result;
            {
                py::gil_scoped_release release;
                result.emplace(create_semiseparable_from_dense(t, options, &report));
            }
            py::object matrix = py::cast(std::move(*result));
            py::dict info;
            info["rank"] = report.rank;
            info["iterations"] = report.iterations;
            info["relative_error"] = report.relative_error;
            info["history"] = report.history;
            matrix.attr("fit_info") = info;
            return matrix;
        },
        py::arg("H"), py::arg("rank") = py::none(), py::arg("target_error") = py::none(),
        py::arg("method") = "svd", py::arg("max_iter") = 50, py::arg("tol") = 1e-12,
        py::arg("seed") = 0,
        "Fit H ~ T + U V^T (T tridiagonal, U, V (N, rank)) by alternating the exact T step and\n"
        "the exact rank-r step from U V^T = 0 (the first iteration is the one-shot split).\n"
        "rank defaults to ceil(log2 N); target_error picks the smallest rank reaching that\n"
        "relative Frobenius error. method 'svd' (LAPACK) or 'rsvd' (randomized). The result\n"
        "carries fit_info: rank, iterations, relative_error, history.");
}

py::tuple svd_tuple(const SvdResult& r) {
    return py::make_tuple(numpy_from_tensor(r.U), numpy_from_tensor(r.S),
                          numpy_from_tensor(r.Vh));
}

}  // namespace

void bind_linalg(py::module_& m) {
    bind_semiseparable(m);
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
    m.def(
        "sherman_morrison_update",
        [](const py::handle& Minv, const py::handle& u, const py::handle& v) {
            constexpr const char* where = "sherman_morrison_update";
            const Tensor tm = numeric_tensor_from_numpy(Minv, where, "Minv");
            const Tensor tu = numeric_tensor_from_numpy(u, where, "u");
            const Tensor tv = numeric_tensor_from_numpy(v, where, "v");
            return numpy_without_gil([&] { return sherman_morrison_update(tm, tu, tv); });
        },
        py::arg("Minv"), py::arg("u"), py::arg("v"),
        "(M + u v^T)^-1 from M^-1 in O(n^2): M^-1 - (M^-1 u)(v^T M^-1) / (1 + v^T M^-1 u).");
    m.def(
        "woodbury_inverse",
        [](const py::handle& Ainv, const py::handle& U, const py::handle& C, const py::handle& V) {
            constexpr const char* where = "woodbury_inverse";
            const Tensor ta = numeric_tensor_from_numpy(Ainv, where, "Ainv");
            const Tensor tu = numeric_tensor_from_numpy(U, where, "U");
            const Tensor tc = numeric_tensor_from_numpy(C, where, "C");
            const Tensor tv = numeric_tensor_from_numpy(V, where, "V");
            return numpy_without_gil([&] { return woodbury_inverse(ta, tu, tc, tv); });
        },
        py::arg("Ainv"), py::arg("U"), py::arg("C"), py::arg("V"),
        "(A + U C V)^-1 from A^-1, U (n, k), C (k, k), V (k, n), in O(n^2 k + k^3);\n"
        "C need not be invertible.");
    m.def(
        "ridge_shrinkage",
        [](const py::handle& X, double lam) {
            const Tensor t = numeric_tensor_from_numpy(X, "ridge_shrinkage", "X");
            return numpy_without_gil([&] { return ridge_shrinkage(t, lam); });
        },
        py::arg("X"), py::arg("lam"),
        "W_c = U diag(s^2 / (s^2 + lam)) U^T (m, m) for X = U S V^T of shape (m features,\n"
        "n samples): the ridge projection that keeps strong directions and shrinks weak ones.");
    m.def(
        "ridge_shrinkage_lambda_range",
        [](const py::handle& sigmas, std::int64_t keep, double keep_at_least,
           double drop_at_most) -> py::object {
            const Tensor t = numeric_tensor_from_numpy(sigmas, "ridge_shrinkage_lambda_range",
                                                       "sigmas")
                                 .to(DType::F64);
            check_argument(t.rank() == 1, "ridge_shrinkage_lambda_range", "sigmas",
                           "shape " + shape_string(t.shape()), "a 1-D array");
            const std::vector<double> values(t.data<double>(), t.data<double>() + t.numel());
            const auto range =
                ridge_shrinkage_lambda_range(values, keep, keep_at_least, drop_at_most);
            if (!range) return py::none();
            return py::make_tuple(range->first, range->second);
        },
        py::arg("sigmas"), py::arg("keep"), py::arg("keep_at_least") = 0.8,
        py::arg("drop_at_most") = 0.5,
        "(lo, hi): the lam interval that keeps the `keep` largest sigmas at a factor >=\n"
        "keep_at_least and shrinks the rest to <= drop_at_most; None when it is empty.");
}

}  // namespace structseq::python
