#pragma once
// The Mamba mixer's recurrent step for one sequence whose projections are dense matrices, in one
// parallel region: what generation runs for every token. x += out, where (mamba_mixer.h)
//   h = rms_norm(x),  [x_in, z] = W_in h (+ b_in),  xc = silu(conv step),  [δ, B, C] = W_x xc,
//   Δ = softplus(W_dt δ + b_dt),  y = scan step (model/mixer_step_kernels.h),
//   out = W_out y (+ b_out)
// Each thread normalizes x into a copy of its own, takes a contiguous block of channels (a
// multiple of 16) through in_proj's x rows and the convolution, then shares out in_proj's z rows
// (nn/row_shares.h); a barrier; x_proj's rows split evenly; a barrier; the block's dt_proj
// rows and scan, prefetching the thread's first out_proj rows meanwhile; a barrier; out_proj's
// rows shared out, added into x. Three barriers replace a
// fork and join per product and leave no phase on one thread (the composed step of
// mamba_recurrent.cpp runs the convolution on one).
// Weights in float32 or bfloat16 (nn/bfloat16_matrix.h); everything else float32.

#include <cstdint>

namespace structseq::model_detail {

template <class Weight>  // float, or std::uint16_t holding bfloat16
struct DenseMixerStep {
    std::int64_t d_model = 0, d_inner = 0, d_state = 0, dt_rank = 0, d_conv = 0;
    bool bilinear = false;
    // in_proj (2 d_inner, d_model), x_proj (dt_rank + 2 d_state, d_inner),
    // dt_proj (d_inner, dt_rank), out_proj (d_model, d_inner), row-major
    const Weight *in_proj = nullptr, *x_proj = nullptr, *dt_proj = nullptr, *out_proj = nullptr;
    // conv_weight (d_inner, d_conv); A (d_inner, d_state); the rest vectors, null where absent
    const float *in_bias = nullptr, *conv_weight = nullptr, *conv_bias = nullptr;
    const float *dt_bias = nullptr, *A = nullptr, *D = nullptr, *out_bias = nullptr;
    const float* norm_weight = nullptr;  // the layer's RMSNorm (d_model)
    double norm_eps = 1e-5;
    // The sequence's convolution window (d_inner, d_conv) and scan state (d_inner, d_state).
    float *window = nullptr, *state = nullptr;
};

// x (d_model): the residual stream, which the output adds into.
void dense_mixer_step(const DenseMixerStep<float>& step, float* x);
void dense_mixer_step(const DenseMixerStep<std::uint16_t>& step, float* x);

}  // namespace structseq::model_detail
