// Python bindings of the attention area: softmax and ridge attention, their backward passes,
// ridge attention weights, and the spectral KV cache.

#include "bindings.h"
#include "numpy_tensor.h"

#include "structseq/attention/ridge_attention.h"
#include "structseq/attention/softmax_attention.h"
#include "structseq/attention/spectral_kv_cache.h"
#include "structseq/core/error.h"

#include <pybind11/stl.h>

#include <string>
#include <vector>

namespace structseq::python {

namespace {

// `lam` as a positive scalar or one value per head (a sequence or 1-D array).
struct Lambda {
    std::vector<double> values;
    bool scalar = true;
};

Lambda lambda_from_python(const py::handle& lam, const char* where) {
    Lambda out;
    if (py::isinstance<py::float_>(lam) || py::isinstance<py::int_>(lam)) {
        out.values = {lam.cast<double>()};
        return out;
    }
    const Tensor t = numeric_tensor_from_numpy(lam, where, "lam");
    check_argument(t.rank() <= 1 && t.numel() >= 1, where, "lam", shape_string(t.shape()),
                   "a positive scalar or one value per head");
    const Tensor d = t.to(DType::F64).contiguous();
    out.values.assign(d.data<double>(), d.data<double>() + d.numel());
    out.scalar = t.rank() == 0;
    return out;
}

RidgeAttentionOptions ridge_options(bool causal, const std::string& method, std::int64_t chunk_size,
                                    const char* where) {
    check_argument(method == "chunked" || method == "sherman_morrison", where, "method", method,
                   "chunked or sherman_morrison");
    RidgeAttentionOptions o;
    o.causal = causal;
    o.method = method == "chunked" ? RidgeMethod::Chunked : RidgeMethod::SequentialShermanMorrison;
    o.chunk_size = chunk_size;
    return o;
}

}  // namespace

void bind_attention(py::module_& m) {
    m.def(
        "softmax_attention",
        [](const py::handle& q, const py::handle& k, const py::handle& v, bool causal) {
            const char* where = "softmax_attention";
            const Tensor tq = float_tensor_from_numpy(q, where, "q"),
                         tk = float_tensor_from_numpy(k, where, "k"),
                         tv = float_tensor_from_numpy(v, where, "v");
            return numpy_without_gil([&] { return softmax_attention(tq, tk, tv, causal).out; });
        },
        py::arg("q"), py::arg("k"), py::arg("v"), py::arg("causal") = true,
        "softmax(q kᵀ / √d) v per (batch, head): q (batch, heads, n_q, d), k (batch, heads, n, "
        "d),\n"
        "v (batch, heads, n, d_v) → (batch, heads, n_q, d_v). Causal queries are the last n_q\n"
        "positions of the n keys.");
    m.def(
        "ridge_attention",
        [](const py::handle& q, const py::handle& k, const py::handle& v, const py::handle& lam,
           bool causal, const std::string& method, std::int64_t chunk_size) {
            const char* where = "ridge_attention";
            const Tensor tq = float_tensor_from_numpy(q, where, "q"),
                         tk = float_tensor_from_numpy(k, where, "k"),
                         tv = float_tensor_from_numpy(v, where, "v");
            const Lambda l = lambda_from_python(lam, where);
            const RidgeAttentionOptions o = ridge_options(causal, method, chunk_size, where);
            return numpy_without_gil([&] { return ridge_attention(tq, tk, tv, l.values, o); });
        },
        py::arg("q"), py::arg("k"), py::arg("v"), py::arg("lam"), py::arg("causal") = true,
        py::kw_only(), py::arg("method") = "chunked", py::arg("chunk_size") = 64,
        "out_t = q_tᵀ (K_tᵀK_t + λI)⁻¹ K_tᵀ V_t per (batch, head), K_t, V_t the rows up to t\n"
        "(causal) or all rows. q, k (batch, heads, n, d), v (batch, heads, n, d_v); lam a "
        "positive\n"
        "scalar or one per head. method: 'chunked' (default) or 'sherman_morrison' (the\n"
        "token-by-token recursion); both keep float64 running sums and refactor, so float32 does\n"
        "not drift over long sequences.");
    m.def(
        "ridge_attention_backward",
        [](const py::handle& dout, const py::handle& q, const py::handle& k, const py::handle& v,
           const py::handle& lam, bool causal, std::int64_t chunk_size) {
            const char* where = "ridge_attention_backward";
            const Tensor tg = float_tensor_from_numpy(dout, where, "dout"),
                         tq = float_tensor_from_numpy(q, where, "q"),
                         tk = float_tensor_from_numpy(k, where, "k"),
                         tv = float_tensor_from_numpy(v, where, "v");
            const Lambda l = lambda_from_python(lam, where);
            const RidgeAttentionOptions o = ridge_options(causal, "chunked", chunk_size, where);
            RidgeAttentionGrads g;
            {
                py::gil_scoped_release release;
                g = ridge_attention_backward(tg, tq, tk, tv, l.values, o);
            }
            py::dict out;
            out["dq"] = numpy_from_tensor(g.dq);
            out["dk"] = numpy_from_tensor(g.dk);
            out["dv"] = numpy_from_tensor(g.dv);
            if (l.scalar) {
                out["dlam"] = py::float_(g.dlam[0]);
            } else {
                out["dlam"] = numpy_from_tensor(
                    Tensor::borrow(g.dlam.data(), {static_cast<std::int64_t>(g.dlam.size())},
                                   DType::F64, nullptr)
                        .clone());
            }
            return out;
        },
        py::arg("dout"), py::arg("q"), py::arg("k"), py::arg("v"), py::arg("lam"),
        py::arg("causal") = true, py::kw_only(), py::arg("chunk_size") = 64,
        "Gradients of ridge_attention for the output gradient dout: a dict with dq, dk, dv "
        "(shaped\n"
        "like q, k, v) and dlam (a float for a scalar lam, else one per head).");
    m.def(
        "ridge_attention_weights",
        [](const py::handle& q, const py::handle& k, const py::handle& lam, bool causal) {
            const char* where = "ridge_attention_weights";
            const Tensor tq = float_tensor_from_numpy(q, where, "q"),
                         tk = float_tensor_from_numpy(k, where, "k");
            const Lambda l = lambda_from_python(lam, where);
            return numpy_without_gil(
                [&] { return ridge_attention_weights(tq, tk, l.values, causal); });
        },
        py::arg("q"), py::arg("k"), py::arg("lam"), py::arg("causal") = false,
        "α = Q (KᵀK + λI)⁻¹ Kᵀ (batch, heads, n_q, n), so that ridge_attention = α V; causal: row\n"
        "t uses the keys up to t and is zero above the diagonal.");

    py::class_<SpectralKVCache>(
        m, "SpectralKVCache",
        "A KV cache kept in blocks of block_size positions per head; each full block of keys and\n"
        "values is compressed by batched randomized SVD (ranks k_rank_keys, k_rank_values) with\n"
        "int8 factors and per-head absmax scales, the latest block stays float32, and attend()\n"
        "works on the factors without rebuilding the cache.")
        .def(py::init<std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                      std::uint64_t>(),
             py::arg("num_heads"), py::arg("head_dim"), py::arg("block_size") = 512,
             py::arg("k_rank_keys") = 16, py::arg("k_rank_values") = 32, py::arg("seed") = 0)
        .def(
            "append",
            [](SpectralKVCache& c, const py::handle& k, const py::handle& v) {
                const Tensor tk = float_tensor_from_numpy(k, "SpectralKVCache.append", "k"),
                             tv = float_tensor_from_numpy(v, "SpectralKVCache.append", "v");
                py::gil_scoped_release release;
                c.append(tk, tv);
            },
            py::arg("k"), py::arg("v"), "Adds k, v of shape (heads, n, head_dim).")
        .def(
            "attend",
            [](const SpectralKVCache& c, const py::handle& q) {
                const Tensor tq = float_tensor_from_numpy(q, "SpectralKVCache.attend", "q");
                return numpy_without_gil([&] { return c.attend(tq); });
            },
            py::arg("q"),
            "softmax(q Kᵀ / √head_dim) V over every appended position: q (heads, n_q, head_dim)\n"
            "→ (heads, n_q, head_dim) float32.")
        .def("memory_bytes", &SpectralKVCache::memory_bytes,
             "Bytes held: the int8 factors, their scales and singular values, and the float32\n"
             "buffer of the latest block.")
        .def("compression_ratio", &SpectralKVCache::compression_ratio,
             "float32 bytes of every appended position / memory_bytes().")
        .def("__len__", &SpectralKVCache::length)
        .def_property_readonly("compressed_blocks", &SpectralKVCache::compressed_blocks);
}

}  // namespace structseq::python
