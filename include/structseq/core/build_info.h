#pragma once
// What this build is and what it runs on: version, compiler, options, threads, BLAS.

#include <string>
#include <utility>
#include <vector>

namespace structseq {

std::vector<std::pair<std::string, std::string>> build_info();

}  // namespace structseq
