#include "structseq/data/utf8_stream.h"

#include <gtest/gtest.h>

namespace structseq {
namespace {

std::string stream_byte_by_byte(std::string_view bytes) {
    Utf8Stream s;
    std::string out;
    for (const char c : bytes) out += s.push(std::string_view(&c, 1));
    return out + s.finish();
}

TEST(Utf8Stream, PassesValidTextAndWaitsForContinuations) {
    const std::string text = "a é ✓ 𝄞 z";
    EXPECT_EQ(stream_byte_by_byte(text), text);
    Utf8Stream s;
    EXPECT_EQ(s.push("\xE2\x9C"), "");  // ✓ unfinished
    EXPECT_EQ(s.push("\x93!"), "✓!");
}

TEST(Utf8Stream, ReplacesEveryMalformedByte) {
    const std::string r = "\xEF\xBF\xBD";
    EXPECT_EQ(stream_byte_by_byte("\xFF"
                                  "a"),
              r + "a");                                 // cannot lead
    EXPECT_EQ(stream_byte_by_byte("\xC0\xAF"), r + r);  // overlong lead, stray
    EXPECT_EQ(stream_byte_by_byte("\xE2\x9C"
                                  "a"),
              r + "a");                                                 // cut short
    EXPECT_EQ(stream_byte_by_byte("\xED\xA0\x80"), r + r + r);          // a surrogate
    EXPECT_EQ(stream_byte_by_byte("\xF4\x90\x80\x80"), r + r + r + r);  // past U+10FFFF
    EXPECT_EQ(stream_byte_by_byte("\xE2\x9C"), r);                      // unfinished at the end
}

}  // namespace
}  // namespace structseq
