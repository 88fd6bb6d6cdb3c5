// Python bindings of the ssm area: discretization, HiPPO, convolution kernels, causal
// convolution, SSM application and linear scans.

#include "bindings.h"
#include "numpy_tensor.h"

#include "structseq/ssm/causal_conv.h"
#include "structseq/ssm/discretize.h"
#include "structseq/ssm/hippo.h"
#include "structseq/ssm/linear_scan.h"
#include "structseq/ssm/selective_scan.h"
#include "structseq/ssm/ssm_apply.h"
#include "structseq/ssm/ssm_kernel.h"

#include <pybind11/stl.h>

namespace structseq::python {

namespace {

// The named array arguments of one call as tensors (None → undefined), for `where`.
struct Arguments {
    const char* where;
    Tensor operator()(const py::handle& x, const char* name) const {
        if (x.is_none()) return Tensor();
        return numeric_tensor_from_numpy(x, where, name);
    }
};

py::tuple arrays(std::initializer_list<Tensor> tensors) {
    py::tuple out(tensors.size());
    std::size_t i = 0;
    for (const Tensor& t : tensors) out[i++] = numpy_from_tensor(t);
    return out;
}

}  // namespace

void bind_ssm(py::module_& m) {
    m.def(
        "discretize",
        [](const py::handle& A, const py::handle& B, double dt, const std::string& method,
           double alpha) {
            const Arguments arg{"discretize"};
            const Tensor a = arg(A, "A"), b = arg(B, "B");
            DiscreteSystem d;
            {
                py::gil_scoped_release release;
                d = discretize(a, b, dt, method, alpha);
            }
            return arrays({d.A, d.B});
        },
        py::arg("A"), py::arg("B"), py::arg("dt"), py::arg("method") = "zoh",
        py::arg("alpha") = 0.5,
        "(Ad, Bd) of x' = A x + B u over a step dt: method 'zoh' (exp of [[A, B], [0, 0]]),\n"
        "'bilinear' or 'gbt' with alpha (0 forward Euler, 0.5 bilinear, 1 backward Euler).\n"
        "A (n, n), or (n,) for a diagonal A (real or complex); B (n,) or (n, m).");
    m.def(
        "hippo",
        [](const std::string& measure, std::int64_t N) {
            HippoMatrices h;
            {
                py::gil_scoped_release release;
                h = hippo(measure, N);
            }
            return arrays({h.A, h.B});
        },
        py::arg("measure"), py::arg("N"),
        "(A (N, N), B (N, 1)) of the HiPPO measure 'legs', 'legt' or 'fout' (continuous time).");
    m.def(
        "hippo_nplr",
        [](const std::string& measure, std::int64_t N) {
            HippoNplr h;
            {
                py::gil_scoped_release release;
                h = hippo_nplr(measure, N);
            }
            return arrays({h.Lambda, h.P, h.B, h.V});
        },
        py::arg("measure"), py::arg("N"),
        "(Lambda (N,), P (rank, N), B (N,), V (N, N)), complex, with V unitary and\n"
        "A = V (diag(Lambda) - P^T conj(P)) V^H, B = V B: the normal-plus-low-rank form.");
    m.def(
        "ssm_kernel",
        [](const py::handle& A, const py::handle& B, const py::handle& C, const py::handle& D,
           std::int64_t L, const std::string& method) {
            const Arguments arg{"ssm_kernel"};
            const Tensor a = arg(A, "A"), b = arg(B, "B"), c = arg(C, "C"), d = arg(D, "D");
            return numpy_without_gil([&] { return ssm_kernel(a, b, c, d, L, method); });
        },
        py::arg("A"), py::arg("B"), py::arg("C"), py::arg("D"), py::arg("L"),
        py::arg("method") = "recurrent",
        "K (L,) with K[0] = D, K[l] = C A^(l-1) B: method 'recurrent', 'doubling' or\n"
        "'diagonal' (A given as (n,) or a diagonal matrix).");
    m.def(
        "ssm_kernel_dplr",
        [](const py::handle& Lambda, const py::handle& P, const py::handle& Q, const py::handle& B,
           const py::handle& C, const py::handle& D, std::int64_t L) {
            const Arguments arg{"ssm_kernel_dplr"};
            const Tensor l = arg(Lambda, "Lambda"), p = arg(P, "P"), q = arg(Q, "Q"),
                         b = arg(B, "B"), c = arg(C, "C"), d = arg(D, "D");
            return numpy_without_gil([&] { return ssm_kernel_dplr(l, p, q, b, c, d, L); });
        },
        py::arg("Lambda"), py::arg("P"), py::arg("Q"), py::arg("B"), py::arg("C"), py::arg("D"),
        py::arg("L"),
        "The kernel of A = diag(Lambda) - P^T conj(Q) (P, Q (r, n) or (n,)) through the\n"
        "generating function at roots of unity, Woodbury / Cauchy sums and an inverse FFT.");
    m.def(
        "ssm_apply",
        [](const py::handle& A, const py::handle& B, const py::handle& C, const py::handle& D,
           const py::handle& u, std::optional<double> dt, const std::string& method) {
            const Arguments arg{"ssm_apply"};
            const Tensor a = arg(A, "A"), b = arg(B, "B"), c = arg(C, "C"), d = arg(D, "D"),
                         x = arg(u, "u");
            return numpy_without_gil([&] { return ssm_apply(a, b, c, d, x, dt, method); });
        },
        py::arg("A"), py::arg("B"), py::arg("C"), py::arg("D"), py::arg("u"),
        py::arg("dt") = py::none(), py::arg("method") = "recurrent",
        "y (B, L, H) of the SSM over u (B, L, H): one system for all channels, or per-channel\n"
        "parameters with a leading H. With dt, (A, B) are continuous and discretized by ZOH.\n"
        "method 'recurrent', 'conv_direct' or 'conv_fft'.");
    m.def(
        "causal_conv",
        [](const py::handle& u, const py::handle& K, const std::string& method) {
            const Arguments arg{"causal_conv"};
            const Tensor x = arg(u, "u"), k = arg(K, "K");
            return numpy_without_gil([&] { return causal_conv(x, k, method); });
        },
        py::arg("u"), py::arg("K"), py::arg("method") = "auto",
        "y[b, t, h] = sum_{s <= t} K[s, h] u[b, t - s, h] for u (B, L, H), K (Lk, H) or (Lk,):\n"
        "method 'direct', 'fft' or 'auto'.");
    m.def(
        "causal_conv_backward",
        [](const py::handle& dy, const py::handle& u, const py::handle& K,
           const std::string& method) {
            const Arguments arg{"causal_conv_backward"};
            const Tensor g = arg(dy, "dy"), x = arg(u, "u"), k = arg(K, "K");
            CausalConvGradients grads;
            {
                py::gil_scoped_release release;
                grads = causal_conv_backward(g, x, k, method);
            }
            py::dict out;
            out["du"] = numpy_from_tensor(grads.du);
            out["dK"] = numpy_from_tensor(grads.dK);
            return out;
        },
        py::arg("dy"), py::arg("u"), py::arg("K"), py::arg("method") = "auto",
        "{'du', 'dK'}: gradients of causal_conv for the output gradient dy.");
    m.def(
        "linear_scan",
        [](const py::handle& a, const py::handle& b, const py::handle& h0,
           const std::string& method) {
            const Arguments arg{"linear_scan"};
            const Tensor ta = arg(a, "a"), tb = arg(b, "b"), th = arg(h0, "h0");
            return numpy_without_gil([&] { return linear_scan(ta, tb, th, method); });
        },
        py::arg("a"), py::arg("b"), py::arg("h0") = py::none(), py::arg("method") = "sequential",
        "h_t = a_t * h_(t-1) + b_t over axis 1 of a, b (B, L, D), from h0 (B, D) or 0:\n"
        "method 'sequential' or 'parallel' (chunks of time across threads).");
    m.def(
        "linear_scan_backward",
        [](const py::handle& dh, const py::handle& a, const py::handle& b, const py::handle& h0,
           const std::string& method) {
            const Arguments arg{"linear_scan_backward"};
            const Tensor g = arg(dh, "dh"), ta = arg(a, "a"), tb = arg(b, "b"), th = arg(h0, "h0");
            LinearScanGradients grads;
            {
                py::gil_scoped_release release;
                grads = linear_scan_backward(g, ta, tb, th, method);
            }
            py::dict out;
            out["da"] = numpy_from_tensor(grads.da);
            out["db"] = numpy_from_tensor(grads.db);
            if (grads.dh0.defined()) out["dh0"] = numpy_from_tensor(grads.dh0);
            return out;
        },
        py::arg("dh"), py::arg("a"), py::arg("b"), py::arg("h0") = py::none(),
        py::arg("method") = "sequential",
        "{'da', 'db'} (and 'dh0' when h0 is given): gradients of linear_scan for dh.");
    m.def(
        "selective_scan",
        [](const py::handle& u, const py::handle& delta, const py::handle& A, const py::handle& B,
           const py::handle& C, const py::handle& D, const py::handle& z,
           const py::handle& delta_bias, bool delta_softplus, bool return_last_state,
           const std::string& discretization, bool use_parallel_scan,
           bool return_checkpoints) -> py::object {
            const Arguments arg{"selective_scan"};
            const Tensor tu = arg(u, "u"), td = arg(delta, "delta"), tA = arg(A, "A"),
                         tB = arg(B, "B"), tC = arg(C, "C"), tD = arg(D, "D"), tz = arg(z, "z"),
                         tbias = arg(delta_bias, "delta_bias");
            SelectiveScanResult r;
            {
                py::gil_scoped_release release;
                r = selective_scan(tu, td, tA, tB, tC, tD, tz, tbias, delta_softplus,
                                   return_last_state, discretization, use_parallel_scan,
                                   return_checkpoints);
            }
            if (!return_last_state && !return_checkpoints) return numpy_from_tensor(r.out);
            py::list results;
            results.append(numpy_from_tensor(r.out));
            if (return_last_state) results.append(numpy_from_tensor(r.last_state));
            if (return_checkpoints) {
                results.append(r.checkpoints.defined() ? numpy_from_tensor(r.checkpoints)
                                                       : py::object(py::none()));
            }
            return py::tuple(results);
        },
        py::arg("u"), py::arg("delta"), py::arg("A"), py::arg("B"), py::arg("C"),
        py::arg("D") = py::none(), py::arg("z") = py::none(), py::arg("delta_bias") = py::none(),
        py::arg("delta_softplus") = false, py::arg("return_last_state") = false, py::kw_only(),
        py::arg("discretization") = "zoh", py::arg("use_parallel_scan") = false,
        py::arg("return_checkpoints") = false,
        "Mamba's selective scan with the semantics of mamba_ssm's selective_scan_ref:\n"
        "u, delta, z (batch, dim, L); A (dim, N); B, C (dim, N), (batch, N, L) or\n"
        "(batch, G, N, L); D, delta_bias (dim,). Returns out (batch, dim, L), and the last\n"
        "state (batch, dim, N) when return_last_state. discretization 'zoh' or 'bilinear'.\n"
        "use_parallel_scan: chunks of time run on separate threads (for long L with few\n"
        "channels); the same result up to rounding.\n"
        "return_checkpoints: also return the states every 64 steps (batch, ceil(L/64), N, dim)\n"
        "float32, last in the tuple, for selective_scan_backward(..., checkpoints=...) to\n"
        "start from instead of running the forward again (what an autograd function saves);\n"
        "None when the operands take the float64 path (anything but float32 operands with\n"
        "input-dependent, ungrouped B and C and no last state), which keeps none.");
    m.def(
        "selective_scan_backward",
        [](const py::handle& dout, const py::handle& u, const py::handle& delta,
           const py::handle& A, const py::handle& B, const py::handle& C, const py::handle& D,
           const py::handle& z, const py::handle& delta_bias, bool delta_softplus,
           const std::string& discretization, const py::handle& checkpoints) {
            const Arguments arg{"selective_scan_backward"};
            const Tensor tg = arg(dout, "dout"), tu = arg(u, "u"), td = arg(delta, "delta"),
                         tA = arg(A, "A"), tB = arg(B, "B"), tC = arg(C, "C"), tD = arg(D, "D"),
                         tz = arg(z, "z"), tbias = arg(delta_bias, "delta_bias"),
                         tcheck = arg(checkpoints, "checkpoints");
            SelectiveScanGradients grads;
            {
                py::gil_scoped_release release;
                grads = selective_scan_backward(tg, tu, td, tA, tB, tC, tD, tz, tbias,
                                                delta_softplus, discretization, tcheck);
            }
            py::dict out;
            out["du"] = numpy_from_tensor(grads.du);
            out["ddelta"] = numpy_from_tensor(grads.ddelta);
            out["dA"] = numpy_from_tensor(grads.dA);
            out["dB"] = numpy_from_tensor(grads.dB);
            out["dC"] = numpy_from_tensor(grads.dC);
            if (grads.dD.defined()) out["dD"] = numpy_from_tensor(grads.dD);
            if (grads.dz.defined()) out["dz"] = numpy_from_tensor(grads.dz);
            if (grads.ddelta_bias.defined())
                out["ddelta_bias"] = numpy_from_tensor(grads.ddelta_bias);
            return out;
        },
        py::arg("dout"), py::arg("u"), py::arg("delta"), py::arg("A"), py::arg("B"), py::arg("C"),
        py::arg("D") = py::none(), py::arg("z") = py::none(), py::arg("delta_bias") = py::none(),
        py::arg("delta_softplus") = false, py::kw_only(), py::arg("discretization") = "zoh",
        py::arg("checkpoints") = py::none(),
        "Gradients of selective_scan for the output gradient dout: a dict with du, ddelta,\n"
        "dA, dB, dC and, for the inputs given, dD, dz, ddelta_bias, each shaped like its input.\n"
        "checkpoints: selective_scan's (return_checkpoints=True) for the same operands, so the\n"
        "backward skips the forward pass it otherwise runs to recompute them; same results.");
}

}  // namespace structseq::python
