#pragma once
// FFT causal convolution on the natural (B, L, H) layout, float32 or float64: time is the transform
// axis and channels are the columns of ColumnFft, so nothing is transposed. Sequences are
// zero-padded to n = 2^⌈log₂(L + Lk − 1)⌉, which makes the circular convolution (and
// correlation) equal the linear one on t < L. Two batch rows share one complex transform
// (re = row b, im = row b + 1): a real kernel spectrum acts on both at once.
//   convolve  y_b = IFFT(FFT(x_b) · K̂)           y[t] = Σ_s K[s] x[t − s]
//   adjoint   y_b = IFFT(FFT(x_b) · conj K̂)      y[t] = Σ_s K[s] x[t + s]
//   kernel gradient dK[s, h] = Σ_b Σ_t dy[b, t, h] u[b, t − s, h] = IFFT(Σ_b DY_b conj U_b)[s]
// Threads over (row pair, column block) tasks.

#include "ssm/fft.h"

#include <cstdint>
#include <vector>

namespace structseq::ssm_detail {

template <class Real>
class FftConvolution {
public:
    // K (Lk, H), row-major; sequences of length L.
    FftConvolution(const Real* K, std::int64_t Lk, std::int64_t H, std::int64_t L);

    void convolve(const Real* x, std::int64_t batch, bool adjoint, Real* y) const;
    static void kernel_gradient(const Real* dy, const Real* u, std::int64_t batch, std::int64_t L,
                                std::int64_t H, std::int64_t Lk, Real* dK);

private:
    std::int64_t L_, H_, n_;
    ColumnFft<Real> fft_;
    std::vector<Real> kr_, ki_;  // K̂ (n, H)
};

}  // namespace structseq::ssm_detail
