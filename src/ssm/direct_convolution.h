#pragma once
// Direct causal convolution of float64 rows: y_j[t] = Σ_{s ≤ min(t, Lk−1)} k_{kernel_of[j]}[s]
// · x_j[t − s] for `rows` rows x_j of L values and kernel rows of Lk values. Blocks of 32
// outputs accumulate in registers over the taps, O(L · Lk) per row; threads over rows.

#include <cstdint>

namespace structseq::ssm_detail {

void direct_convolution(const double* x, std::int64_t rows, std::int64_t L, const double* k,
                        std::int64_t Lk, const std::int64_t* kernel_of, double* y);

}  // namespace structseq::ssm_detail
