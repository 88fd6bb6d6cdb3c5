#include "structseq/data/utf8_stream.h"

namespace structseq {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// The length of the sequence a lead byte starts (1 … 4), 0 for a byte that cannot lead.
int sequence_length(unsigned char lead) {
    if (lead < 0x80) return 1;
    if (lead >= 0xC2 && lead <= 0xDF) return 2;
    if (lead >= 0xE0 && lead <= 0xEF) return 3;
    if (lead >= 0xF0 && lead <= 0xF4) return 4;
    return 0;
}

// Whether `c` may follow `lead` as the second byte (RFC 3629's table), or a later byte.
bool continues(unsigned char lead, std::size_t position, unsigned char c) {
    if (position == 1) {
        if (lead == 0xE0) return c >= 0xA0 && c <= 0xBF;
        if (lead == 0xED) return c >= 0x80 && c <= 0x9F;
        if (lead == 0xF0) return c >= 0x90 && c <= 0xBF;
        if (lead == 0xF4) return c >= 0x80 && c <= 0x8F;
    }
    return c >= 0x80 && c <= 0xBF;
}

}  // namespace

std::string Utf8Stream::push(std::string_view bytes) {
    std::string out;
    for (const char ch : bytes) {
        const auto c = static_cast<unsigned char>(ch);
        if (!pending_.empty()) {
            const auto lead = static_cast<unsigned char>(pending_[0]);
            if (continues(lead, pending_.size(), c)) {
                pending_ += ch;
                if (static_cast<int>(pending_.size()) == sequence_length(lead)) {
                    out += pending_;
                    pending_.clear();
                }
                continue;
            }
            out += kReplacement;  // the unfinished sequence; `c` starts afresh
            pending_.clear();
        }
        const int length = sequence_length(c);
        if (length == 1) {
            out += ch;
        } else if (length == 0) {
            out += kReplacement;
        } else {
            pending_ += ch;
        }
    }
    return out;
}

std::string Utf8Stream::finish() {
    std::string out = pending_.empty() ? std::string() : std::string(kReplacement);
    pending_.clear();
    return out;
}

}  // namespace structseq
