#pragma once
// Radix-2 Stockham FFT of power-of-two length n over many columns at once. Data is
// column-minor, split real/imaginary: x[i * columns + c] is element i of column c, so every
// butterfly is a contiguous vector loop over columns (and, in the later stages, over the
// Stockham stride too). Unnormalized: inverse(forward(x)) = n · x.

#include <complex>
#include <cstdint>
#include <vector>

namespace structseq::ssm_detail {

class ColumnFft {
public:
    explicit ColumnFft(std::int64_t n);  // n a power of two
    std::int64_t size() const { return n_; }

    // In place on (re, im), each n × columns; `work_re`/`work_im` are scratch of the same size.
    void transform(double* re, double* im, std::int64_t columns, bool inverse, double* work_re,
                   double* work_im) const;

private:
    std::int64_t n_;
    std::vector<double> cos_;  // cos(2π k / n), k < n/2
    std::vector<double> sin_;  // sin(2π k / n)
};

// The smallest power of two ≥ n.
std::int64_t next_power_of_two(std::int64_t n);

}  // namespace structseq::ssm_detail
