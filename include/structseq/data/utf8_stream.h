#pragma once
// Bytes in, valid UTF-8 out, for streaming a byte-level model's tokens to a terminal: complete
// sequences pass through as soon as their last byte arrives, an incomplete one waits for its
// continuation, and every byte that cannot start or continue a well-formed sequence (RFC 3629:
// no overlongs, surrogates or code points past U+10FFFF) becomes U+FFFD.

#include <string>
#include <string_view>

namespace structseq {

class Utf8Stream {
public:
    // The text that `bytes` complete.
    std::string push(std::string_view bytes);
    // What is left at the end: U+FFFD for each byte of an unfinished sequence.
    std::string finish();

private:
    std::string pending_;
};

}  // namespace structseq
