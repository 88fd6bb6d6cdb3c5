// data/kjv.txt.gz compiled into the library (STRUCTSEQ_BUNDLED_CORPUS names the file) and
// inflated on demand.

#include "structseq/core/error.h"
#include "structseq/data/text_corpus.h"

#include <zlib.h>

#include <cstdint>

__asm__(
    ".section .rodata\n"
    ".balign 16\n"
    "structseq_bundled_corpus_begin:\n"
    ".incbin \"" STRUCTSEQ_BUNDLED_CORPUS
    "\"\n"
    "structseq_bundled_corpus_end:\n"
    ".previous\n");
extern "C" const unsigned char structseq_bundled_corpus_begin[];
extern "C" const unsigned char structseq_bundled_corpus_end[];

namespace structseq {

std::string bundled_corpus_text() {
    z_stream stream{};
    if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) fail("bundled corpus: zlib init failed");
    stream.next_in = const_cast<unsigned char*>(structseq_bundled_corpus_begin);
    stream.avail_in =
        static_cast<uInt>(structseq_bundled_corpus_end - structseq_bundled_corpus_begin);
    std::string text;
    char buffer[1 << 16];
    int status = Z_OK;
    while (status == Z_OK) {
        stream.next_out = reinterpret_cast<unsigned char*>(buffer);
        stream.avail_out = sizeof(buffer);
        status = inflate(&stream, Z_NO_FLUSH);
        text.append(buffer, sizeof(buffer) - stream.avail_out);
    }
    inflateEnd(&stream);
    if (status != Z_STREAM_END) fail("bundled corpus: the embedded gzip data is corrupt");
    return text;
}

}  // namespace structseq
