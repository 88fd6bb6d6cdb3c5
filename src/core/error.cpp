#include "structseq/core/error.h"

#include <cmath>

namespace structseq {

void fail_argument(std::string_view where, std::string_view argument, std::string_view value,
                   std::string_view expected) {
    throw Error(fmt::format("{}: {} is {}, expected {}", where, argument, value, expected));
}

std::string complex_string(std::complex<double> z) {
    return fmt::format("{}{:+}j", z.real(), z.imag());
}

void check_finite_complex(std::string_view where, std::string_view argument,
                          std::complex<double> z) {
    check_argument(std::isfinite(z.real()) && std::isfinite(z.imag()), where, argument,
                   complex_string(z), "a finite number");
}

}  // namespace structseq
