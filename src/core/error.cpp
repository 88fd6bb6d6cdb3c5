#include "structseq/core/error.h"

namespace structseq {

void fail_argument(std::string_view where, std::string_view argument, std::string_view value,
                   std::string_view expected) {
    throw Error(fmt::format("{}: {} is {}, expected {}", where, argument, value, expected));
}

}  // namespace structseq
