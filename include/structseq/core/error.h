#pragma once
// Errors: every public function validates its arguments and throws structseq::Error with a
// message that names the function, the argument, the value it got and what it expected:
//   "selective_scan: delta has shape (2, 8, 16), expected (2, 8, 64)".

#include <fmt/format.h>

#include <complex>
#include <stdexcept>
#include <string>
#include <string_view>

namespace structseq {

class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
    throw Error(fmt::format(format, std::forward<Args>(args)...));
}

// "where: argument is value, expected expected"
[[noreturn]] void fail_argument(std::string_view where, std::string_view argument,
                                std::string_view value, std::string_view expected);

// "1.5-0.25j", the spelling error messages use for complex values.
std::string complex_string(std::complex<double> z);

// Error unless both parts of z are finite.
void check_finite_complex(std::string_view where, std::string_view argument,
                          std::complex<double> z);

inline void check_argument(bool ok, std::string_view where, std::string_view argument,
                           std::string_view value, std::string_view expected) {
    if (!ok) fail_argument(where, argument, value, expected);
}

}  // namespace structseq
