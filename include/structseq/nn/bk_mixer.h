#pragma once
// The `bk` mixer of the language model as a forward/backward pair over time-major rows
// h (batch·L, d_model), the stateless counterpart of nn/bk_block.h (which carries its own
// weights and residual):
//   v = h W_inᵀ + b_in                         (M, C): one potential per position and channel
//   f = BK_causal(v)                           per (sequence, channel), z = i, H₀ = −Δ:
//                                              f_t = (Re, Im) of 1/d_t, d_1 = 2 + v_1 − z,
//                                              d_t = 2 + v_t − z − 1/d_{t−1}
//                                              (bk/birman_schwinger_core.h, causal mode)
//   out = f W_outᵀ + b_out                     f regrouped as (M, 2C), channel-major pairs
// Causal, so a language model may use it; its recurrent form carries d_{t−1} per channel
// (O(1) per token). Backward: the projections' and BK-Core's exact O(L) backward.
// float32 (BK in complex64) or float64 (complex128).

#include "structseq/core/tensor.h"

#include <cstdint>
#include <memory>

namespace structseq {

class BirmanSchwingerCore;

struct BkMixerWeights {
    Tensor in_proj, in_proj_bias;    // (C, d_model), (C)
    Tensor out_proj, out_proj_bias;  // (d_model, 2C), (d_model)

    bool defined() const { return in_proj.defined(); }
    std::int64_t channels() const { return in_proj.dim(0); }
    BkMixerWeights zeros_like() const;
};

struct BkMixerSaved {
    std::int64_t batch = 0, length = 0;
    Tensor h, features;                         // (M, d_model), (M, 2C)
    std::shared_ptr<BirmanSchwingerCore> core;  // holds what BK-Core's backward needs
};

Tensor bk_mixer_forward(const BkMixerWeights& w, const Tensor& h, std::int64_t batch,
                        std::int64_t length, BkMixerSaved* saved = nullptr);

// Returns dh; adds the weights' gradients into `grads` (shaped by zeros_like()).
Tensor bk_mixer_backward(const BkMixerWeights& w, BkMixerSaved& saved, const Tensor& dout,
                         BkMixerWeights& grads);

// One token per sequence: h (batch, d_model) → (batch, d_model), with `pivots` (batch, C, 2)
// float holding (Re, Im) d_{t−1}, zero before the first token, advanced in place.
Tensor bk_mixer_step(const BkMixerWeights& w, const Tensor& h, Tensor& pivots);

}  // namespace structseq
