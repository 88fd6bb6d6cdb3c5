#include "structseq/io/read_file.h"

#include "structseq/core/error.h"

#include <zstd.h>

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

std::string read_zstd_file(const std::string& path, std::string_view what) {
    const std::string compressed = read_file(path, what);
    ZSTD_DStream* stream = ZSTD_createDStream();
    if (stream == nullptr) fail("{}: zstd could not start", path);
    ZSTD_initDStream(stream);
    std::string out;
    std::string buffer(ZSTD_DStreamOutSize(), '\0');
    ZSTD_inBuffer in{compressed.data(), compressed.size(), 0};
    std::size_t status = 1;
    while (in.pos < in.size) {
        ZSTD_outBuffer chunk{buffer.data(), buffer.size(), 0};
        status = ZSTD_decompressStream(stream, &chunk, &in);
        if (ZSTD_isError(status)) {
            const std::string reason = ZSTD_getErrorName(status);
            ZSTD_freeDStream(stream);
            fail("{}: not valid zstd data ({})", path, reason);
        }
        out.append(buffer.data(), chunk.pos);
    }
    ZSTD_freeDStream(stream);
    if (status != 0) fail("{}: the zstd data is truncated", path);
    return out;
}

}  // namespace structseq::io
