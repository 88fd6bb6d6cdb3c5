#pragma once
// Initial weights of a Mamba language model, as mamba_ssm initializes them (Mamba module and
// MambaLMHeadModel._init_weights):
//   embedding ~ N(0, 0.02²);  RMSNorm weights 1
//   in_proj, x_proj ~ U(±1/√fan_in) (PyTorch's Linear default);  no biases
//   out_proj ~ U(±1/√d_inner) / √n_layer (rescaled for the residual stream)
//   (config.selective_param_class "sparse": block-sparse with fan_in its kept inputs;
//    "low_rank": U V with the entry variance of that uniform matrix, diagonal 0)
//   conv1d weight and bias ~ U(±1/√d_conv)
//   dt_proj.weight ~ U(±dt_rank^−½);  Δ₀ = exp(U(log dt_min, log dt_max)) clamped below at
//   dt_floor, dt_proj.bias = softplus⁻¹(Δ₀) = Δ₀ + log(−expm1(−Δ₀)), so softplus(bias) = Δ₀
//   feed-forward blocks (ffn_dim > 0): fc1 ~ U(±1/√d_model), fc2 ~ U(±1/√ffn_dim) / √n_layer,
//   biases 0, their RMSNorm weights 1
//   D = 1;  A_log = log(−a) for the diagonal a chosen by a_init:
//     "s4d_real" (Mamba's default): a_n = −(n+1)
//     "legs": diag of HiPPO-LegS, −(n+1) (the same values: S4D-real is LegS's diagonal)
//     "legt": diag of HiPPO-LegT, −(n+½)
//     "fout": diag of HiPPO-FouT, −1 on the first row, −2 on the cosine rows and 0 on the sine
//             rows; A = −exp(A_log) must be negative, so those zeros become −1e-4 (a
//             near-integrator).
// The same seed gives the same weights.

#include "structseq/model/mamba_model.h"

#include <cstdint>
#include <string>

namespace structseq {

struct MambaInitOptions {
    double dt_min = 0.001;
    double dt_max = 0.1;
    double dt_floor = 1e-4;
    std::string a_init = "s4d_real";  // or "legs", "legt", "fout"
    std::uint64_t seed = 0;
};

// A_log (d_inner, d_state) float64 for an a_init name (one row repeated d_inner times).
Tensor mamba_a_log_init(std::string_view a_init, std::int64_t d_inner, std::int64_t d_state);

// Float32 (or float64) weights for `config`; head tied to the embedding.
MambaWeights init_mamba_weights(const MambaConfig& config, const MambaInitOptions& options = {},
                                DType dtype = DType::F32);

}  // namespace structseq
