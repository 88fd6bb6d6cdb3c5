#pragma once
// SiLU over flat arrays, vectorized with the scans' lane exp:
//   forward:  out[i] = p[i] · σ(p[i])
//   backward: dp[i]  = g[i] · σ(p[i]) (1 + p[i] (1 − σ(p[i])))
// out / dp may alias p / g.

#include <cstdint>

namespace structseq::nn_detail {

void silu_forward(const float* p, float* out, std::int64_t n);
void silu_forward(const double* p, double* out, std::int64_t n);
void silu_backward(const float* p, const float* g, float* dp, std::int64_t n);
void silu_backward(const double* p, const double* g, double* dp, std::int64_t n);

}  // namespace structseq::nn_detail
