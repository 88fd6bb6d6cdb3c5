#include "structseq/io/read_file.h"

#include "structseq/core/error.h"

#include <fstream>
#include <sstream>

namespace structseq::io {

std::string read_file(const std::string& path, std::string_view what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("{}: {} is missing or unreadable", path, what);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    if (in.bad()) fail("{}: reading {} failed", path, what);
    return bytes.str();
}

}  // namespace structseq::io
