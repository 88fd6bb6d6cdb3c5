#pragma once
// Whole files: the bytes, or the decompressed bytes of a zstd file; Error "PATH: WHAT is missing
// or unreadable" when it cannot be opened.

#include <string>
#include <string_view>

namespace structseq::io {

std::string read_file(const std::string& path, std::string_view what = "the file");

// The decompressed bytes of a zstd file (the Pile's .jsonl.zst); Error naming the path when it
// is not valid zstd data.
std::string read_zstd_file(const std::string& path, std::string_view what = "the file");

}  // namespace structseq::io
