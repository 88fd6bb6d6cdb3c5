#include "structseq/model/mamba_init.h"

#include "structseq/core/error.h"
#include "structseq/core/rng.h"
#include "structseq/ssm/hippo.h"

#include <algorithm>
#include <cmath>

namespace structseq {

Tensor mamba_a_log_init(std::string_view a_init, std::int64_t d_inner, std::int64_t d_state) {
    constexpr std::string_view where = "mamba_a_log_init";
    check_argument(a_init == "s4d_real" || a_init == "legs" || a_init == "legt" || a_init == "fout",
                   where, "a_init", std::string(a_init), "s4d_real, legs, legt or fout");
    check_argument(d_inner >= 1 && d_state >= 1, where, "d_inner, d_state",
                   std::to_string(d_inner) + ", " + std::to_string(d_state), ">= 1 each");
    std::vector<double> a(static_cast<std::size_t>(d_state));
    if (a_init == "s4d_real") {
        for (std::int64_t n = 0; n < d_state; ++n) a[n] = -static_cast<double>(n + 1);
    } else {
        // FouT is defined for an even state size; take the diagonal of the next even one.
        const std::int64_t size = a_init == "fout" ? d_state + d_state % 2 : d_state;
        const Tensor A = hippo(a_init, size).A;
        for (std::int64_t n = 0; n < d_state; ++n) {
            a[n] = std::min(A.data<double>()[n * size + n], -1e-4);
        }
    }
    Tensor A_log({d_inner, d_state}, DType::F64);
    for (std::int64_t d = 0; d < d_inner; ++d) {
        for (std::int64_t n = 0; n < d_state; ++n)
            A_log.data<double>()[d * d_state + n] = std::log(-a[n]);
    }
    return A_log;
}

MambaWeights init_mamba_weights(const MambaConfig& c, const MambaInitOptions& o, DType dtype) {
    constexpr std::string_view where = "init_mamba_weights";
    check_argument(dtype == DType::F32 || dtype == DType::F64, where, "dtype",
                   std::string(dtype_name(dtype)), "float32 or float64");
    check_argument(c.selective_param_class == "dense" || c.selective_param_class == "sparse" ||
                       c.selective_param_class == "low_rank",
                   where, "selective_param_class", c.selective_param_class,
                   "dense, sparse or low_rank");
    check_argument(o.dt_min > 0 && o.dt_max >= o.dt_min && o.dt_floor > 0, where,
                   "dt_min, dt_max, dt_floor",
                   fmt::format("{}, {}, {}", o.dt_min, o.dt_max, o.dt_floor),
                   "0 < dt_min <= dt_max and dt_floor > 0");
    std::uint64_t stream = o.seed * 1000003;
    const auto uniform = [&](Shape shape, double bound) {
        return Rng(++stream).uniform(std::move(shape), dtype, -bound, bound);
    };
    const auto ones = [&](std::int64_t n) {
        Tensor t({n}, DType::F64);
        for (std::int64_t k = 0; k < n; ++k) t.data<double>()[k] = 1.0;
        return t.to(dtype);
    };
    // in_proj, x_proj, out_proj in the configured form, U(±scale/√fan_in) (a low-rank U V with
    // that entry variance; a block-sparse one counts only its kept inputs).
    const std::int64_t rank = c.low_rank_dim > 0 ? c.low_rank_dim : (c.d_model + 3) / 4;
    const auto projection = [&](std::int64_t out, std::int64_t in, double scale) {
        Projection p;
        if (c.selective_param_class == "sparse") {
            p = Projection::block_sparse(out, in, c.sparsity_level, dtype);
        } else if (c.selective_param_class == "low_rank") {
            p = Projection::low_rank(out, in, std::min({rank, out, in}), dtype);
        } else {
            p = Projection(Tensor({out, in}, dtype));
        }
        Rng rng(++stream);
        p.fill_uniform(rng, scale / std::sqrt(static_cast<double>(p.fan_in())));
        return p;
    };
    MambaWeights w;
    w.embedding = Rng(++stream).normal({c.vocab_size, c.d_model}, dtype, 0.0, 0.02);
    w.norm_f = ones(c.d_model);
    if (c.positions == "learned") {
        w.positions = Rng(++stream).normal({c.max_seq_len, c.d_model}, dtype, 0.0, 0.02);
    }
    const Tensor A_log = mamba_a_log_init(o.a_init, c.d_inner, c.d_state).to(dtype);
    const auto add_feed_forward = [&](MambaLayerWeights& layer) {
        if (c.ffn_dim == 0)
            return;  // biases zero, as mamba_ssm's _init_weights leaves Linear biases
        layer.ffn_norm = ones(c.d_model);
        layer.ffn.fc1 = uniform({c.ffn_dim, c.d_model}, 1 / std::sqrt(double(c.d_model)));
        layer.ffn.fc1_bias = Tensor({c.ffn_dim}, dtype);
        layer.ffn.fc2 = uniform({c.d_model, c.ffn_dim},
                                1 / std::sqrt(double(c.ffn_dim)) / std::sqrt(double(c.n_layer)));
        layer.ffn.fc2_bias = Tensor({c.d_model}, dtype);
    };
    check_argument(c.mixers.empty() || static_cast<std::int64_t>(c.mixers.size()) == c.n_layer,
                   where, "mixers", std::to_string(c.mixers.size()) + " names",
                   "none, or one per layer");
    for (std::int64_t l = 0; l < c.n_layer; ++l) {
        MambaLayerWeights layer;
        layer.norm = ones(c.d_model);
        add_feed_forward(layer);
        const std::string mixer = c.mixers.empty() ? "ssm" : c.mixers[static_cast<std::size_t>(l)];
        if (mixer == "attention" || mixer == "ridge") {
            // q, k, v and the output as Linear layers, the output scaled by 1/√n_layer as
            // out_proj is above; ridge λ = exp(0) = 1 in every head.
            const double bound = 1 / std::sqrt(double(c.d_model));
            layer.attention.qkv = uniform({3 * c.d_model, c.d_model}, bound);
            layer.attention.out_proj =
                uniform({c.d_model, c.d_model}, bound / std::sqrt(double(c.n_layer)));
            if (mixer == "ridge") layer.attention.log_lambda = Tensor({attention_heads(c)}, dtype);
            w.layers.push_back(std::move(layer));
            continue;
        }
        if (mixer == "bk") {
            // BkBlock's draw: W_in ~ N(0, 1/d_model), W_out ~ N(0, 1/(2C)) / √n_layer, biases 0.
            const std::int64_t channels = c.bk_channels > 0 ? c.bk_channels : c.d_model;
            layer.bk.in_proj = Rng(++stream).normal({channels, c.d_model}, dtype, 0.0,
                                                    1 / std::sqrt(double(c.d_model)));
            layer.bk.in_proj_bias = Tensor({channels}, dtype);
            layer.bk.out_proj = Rng(++stream).normal(
                {c.d_model, 2 * channels}, dtype, 0.0,
                1 / std::sqrt(double(2 * channels)) / std::sqrt(double(c.n_layer)));
            layer.bk.out_proj_bias = Tensor({c.d_model}, dtype);
            w.layers.push_back(std::move(layer));
            continue;
        }
        MambaMixerWeights& m = layer.mixer;
        m.in_proj = projection(2 * c.d_inner, c.d_model, 1.0);
        m.conv_weight = uniform({c.d_inner, c.d_conv}, 1 / std::sqrt(double(c.d_conv)));
        m.conv_bias = uniform({c.d_inner}, 1 / std::sqrt(double(c.d_conv)));
        m.x_proj = projection(c.dt_rank + 2 * c.d_state, c.d_inner, 1.0);
        m.dt_proj = uniform({c.d_inner, c.dt_rank}, 1 / std::sqrt(double(c.dt_rank)));
        // Δ₀ log-uniform in [dt_min, dt_max], floored; the bias is its inverse softplus.
        const Tensor r = Rng(++stream).uniform({c.d_inner}, DType::F64);
        Tensor bias({c.d_inner}, DType::F64);
        for (std::int64_t d = 0; d < c.d_inner; ++d) {
            const double dt =
                std::max(o.dt_floor,
                         std::exp(r.data<double>()[d] * (std::log(o.dt_max) - std::log(o.dt_min)) +
                                  std::log(o.dt_min)));
            bias.data<double>()[d] = dt + std::log(-std::expm1(-dt));
        }
        m.dt_proj_bias = bias.to(dtype);
        m.A_log = A_log.clone();
        m.D = ones(c.d_inner);
        m.out_proj = projection(c.d_model, c.d_inner, 1 / std::sqrt(double(c.n_layer)));
        w.layers.push_back(std::move(layer));
    }
    return w;
}

}  // namespace structseq
