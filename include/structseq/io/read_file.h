#pragma once
// A whole file's bytes; Error "PATH: WHAT is missing or unreadable" when it cannot be opened.

#include <string>
#include <string_view>

namespace structseq::io {

std::string read_file(const std::string& path, std::string_view what = "the file");

}  // namespace structseq::io
