#pragma once
// The causal convolution engine behind causal_conv, its backward and ssm_apply, on float64
// rows: y_j[t] = Σ_{s ≤ min(t, Lk−1)} k_{kernel_of[j]}[s] · x_j[t − s], t < L, for `columns`
// rows x_j (L values each, row-major) and `kernels` rows k (Lk values each).
//   direct: O(L · Lk) per row, a vector loop over t for each tap s;
//   fft:    zero-padded to N = 2^⌈log₂(L + Lk − 1)⌉ (≥ 2L when Lk = L), so the circular
//           convolution equals the linear one on t < L; two real rows share one complex FFT
//           (re, im), each kernel spectrum is computed once. O(N log N) per row.
// Threads over rows (direct) or groups of rows (fft).

#include <cstdint>
#include <vector>

namespace structseq::ssm_detail {

enum class ConvMethod { Direct, Fft };

void causal_conv_rows(const double* x, std::int64_t columns, std::int64_t L, const double* k,
                      std::int64_t kernels, std::int64_t Lk, const std::int64_t* kernel_of,
                      ConvMethod method, double* y);

}  // namespace structseq::ssm_detail
