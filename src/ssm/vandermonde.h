#pragma once
// Vandermonde sums out[j] = Σ_i w_i λ_i^j for j < count (out holds count + 8 values; the
// tail is scratch), real or complex. O(n · count / 8) vector operations: lane k of a running
// vector holds λ_i^{8m + k} and advances by λ_i^8; four i at a time hide the multiply
// latency. Rounding grows like j·ε relative, as for any running product.

#include <complex>
#include <cstdint>

namespace structseq::ssm_detail {

void vandermonde_sums(const double* lambda, const double* w, std::int64_t n, std::int64_t count,
                      double* out);
void vandermonde_sums(const std::complex<double>* lambda, const std::complex<double>* w,
                      std::int64_t n, std::int64_t count, std::complex<double>* out);

}  // namespace structseq::ssm_detail
