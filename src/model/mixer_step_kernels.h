#pragma once
// The Mamba mixer's recurrent step (model/mamba_recurrent.cpp) for one sequence, channels
// [c0, c1) of d_inner, as kernels that a caller's threads share out:
//   convolution  each channel's window (d_conv values) shifts by one and takes x_c;
//                xc_c = silu(b_c + Σ_k W[c, k] · window[c, k])
//   scan         Δ_c = softplus(δ_c);  s_c ← Ā ⊙ s_c + B̄ u_c,
//                zoh: Ā = exp(Δ_c A_c), B̄ = Δ_c B_t; bilinear: Ā = (1 + Δ_c A_c/2)/(1 − Δ_c A_c/2),
//                B̄ = Δ_c B_t/(1 − Δ_c A_c/2);  y_c = (C_t · s_c + D_c u_c) · silu(z_c)

#include <cstdint>

namespace structseq::model_detail {

// window (d_inner, taps), x and xc (d_inner), W (d_inner, taps), bias (d_inner) or null.
void conv_silu_step(float* window, const float* x, const float* W, const float* bias, float* xc,
                    std::int64_t taps, std::int64_t c0, std::int64_t c1);

// One sequence's operands: A and state (d_inner, N); delta (δ, before softplus), u, z, D and y
// (d_inner); Bt and Ct (N).
struct ScanStepOperands {
    std::int64_t n = 0;
    bool bilinear = false;
    const float *A, *delta, *u, *z, *Bt, *Ct, *D;
    float *state, *y;
    // Lines to bring into the level-2 cache while the vectorized scan computes (what the caller
    // reads next), spread over the channels; none when null.
    const char* warm = nullptr;
    std::int64_t warm_lines = 0;
};

// ZOH with N a multiple of 16 runs vectorized over the states; the rest one state at a time.
void scan_step(const ScanStepOperands& op, std::int64_t c0, std::int64_t c1);

}  // namespace structseq::model_detail
