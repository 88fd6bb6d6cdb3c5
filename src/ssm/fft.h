#pragma once
// Mixed radix-4/2 Stockham FFT of power-of-two length n over many columns at once, float32 or
// float64. Data is column-minor, split real/imaginary: x[i * columns + c] is element i of
// column c, so every butterfly is a contiguous vector loop over columns (and, in the later
// stages, over the Stockham stride too). Radix-4 stages halve the passes over memory; a
// radix-2 stage comes first when log₂ n is odd. Unnormalized: inverse(forward(x)) = n · x.

#include <cstdint>
#include <memory>
#include <vector>

namespace structseq::ssm_detail {

template <class Real>
class ColumnFft {
public:
    explicit ColumnFft(std::int64_t n);  // n a power of two
    std::int64_t size() const { return n_; }

    // In place on (re, im), each n × columns; `work_re`/`work_im` are scratch of the same size.
    void transform(Real* re, Real* im, std::int64_t columns, bool inverse, Real* work_re,
                   Real* work_im) const;

    // cos(2π k / n) and sin(2π k / n) for k < n, computed once per (n, precision) and shared.
    struct Twiddles {
        std::vector<Real> cos, sin;
    };

private:
    std::int64_t n_;
    std::shared_ptr<const Twiddles> twiddles_;
};

// The smallest power of two ≥ n.
std::int64_t next_power_of_two(std::int64_t n);

}  // namespace structseq::ssm_detail
