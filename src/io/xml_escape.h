#pragma once
// Text made safe inside XML/SVG elements and attribute values: & < > " become entities.

#include <string>
#include <string_view>

namespace structseq::io {

inline std::string xml_escape(std::string_view text) {
    std::string out;
    for (const char c : text) {
        switch (c) {
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '&':
                out += "&amp;";
                break;
            case '"':
                out += "&quot;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

}  // namespace structseq::io
