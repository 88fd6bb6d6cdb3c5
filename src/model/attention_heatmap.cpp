#include "structseq/model/attention_heatmap.h"

#include "io/xml_escape.h"
#include "structseq/core/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace structseq {

namespace {

// A token's text as a label: control characters and spaces made visible, at most 8 bytes.
std::string visible(const std::string& text) {
    std::string out;
    for (const unsigned char c : text) {
        if (c == '\n') {
            out += "\\n";
        } else if (c == ' ') {
            out += "\u2423";  // ␣
        } else if (c < 0x20 || c == 0x7f) {
            out += fmt::format("\\x{:02x}", c);
        } else {
            out += static_cast<char>(c);
        }
    }
    return out.size() > 8 ? out.substr(0, 8) : out;
}

// Blue (−1) → white (0) → red (+1).
std::string color(double x) {
    const double a = std::clamp(std::abs(x), 0.0, 1.0);
    const int fade = static_cast<int>(std::lround(255 * (1 - a)));
    return x >= 0 ? fmt::format("#ff{:02x}{:02x}", fade, fade)
                  : fmt::format("#{:02x}{:02x}ff", fade, fade);
}

}  // namespace

std::string attention_heatmap_svg(const Tensor& alpha_in, const std::vector<std::string>& labels,
                                  const std::string& title) {
    constexpr std::string_view where = "attention_heatmap_svg";
    check_argument(
        alpha_in.rank() == 2 && alpha_in.dim(0) == alpha_in.dim(1) && alpha_in.dim(0) >= 1, where,
        "alpha", "shape " + shape_string(alpha_in.shape()), "(L, L), L >= 1");
    const std::int64_t n = alpha_in.dim(0);
    check_argument(static_cast<std::int64_t>(labels.size()) == n, where, "labels",
                   std::to_string(labels.size()), fmt::format("one per position ({})", n));
    const Tensor alpha = alpha_in.to(DType::F64).contiguous();
    const double* a = alpha.data<double>();
    double top = 0;
    for (std::int64_t k = 0; k < n * n; ++k) top = std::max(top, std::abs(a[k]));
    if (top == 0) top = 1;
    const int cell = static_cast<int>(std::clamp<std::int64_t>(720 / n, 4, 24));
    const int margin = 70, grid = cell * static_cast<int>(n);
    const int width = margin + grid + 90, height = margin + grid + 20;
    const bool labelled = cell >= 10;
    std::string svg = fmt::format(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
        "viewBox=\"0 0 {0} {1}\" font-family=\"sans-serif\" font-size=\"{2}\">\n"
        "<rect width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n"
        "<text x=\"{3}\" y=\"20\" font-size=\"14\">{4}</text>\n",
        width, height, std::max(7, cell - 3), margin, io::xml_escape(title));
    for (std::int64_t t = 0; t < n; ++t) {
        for (std::int64_t i = 0; i < n; ++i) {
            const double v = a[t * n + i];
            if (v == 0) continue;
            svg += fmt::format(
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\">"
                "<title>query {} ← key {}: {:.4g}</title></rect>\n",
                margin + cell * i, margin + cell * t, cell, cell, color(v / top), t, i, v);
        }
    }
    svg += fmt::format(
        "<rect x=\"{0}\" y=\"{0}\" width=\"{1}\" height=\"{1}\" fill=\"none\" "
        "stroke=\"#888\"/>\n",
        margin, grid);
    if (labelled) {
        for (std::int64_t i = 0; i < n; ++i) {
            const std::string text = io::xml_escape(visible(labels[static_cast<std::size_t>(i)]));
            const int middle = margin + cell * static_cast<int>(i) + cell / 2;
            // the query's label left of its row, the key's above its column (turned upright)
            svg += fmt::format(
                "<text x=\"{1}\" y=\"{0}\" text-anchor=\"end\" dominant-baseline=\"middle\">{2}"
                "</text>\n<text x=\"{0}\" y=\"{1}\" text-anchor=\"start\" "
                "dominant-baseline=\"middle\" transform=\"rotate(-90 {0} {1})\">{2}</text>\n",
                middle, margin - 4, text);
        }
    }
    // The scale: −max … 0 … +max.
    const int bar_x = margin + grid + 20;
    for (int k = 0; k < 20; ++k) {
        svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"14\" height=\"{:.2f}\" fill=\"{}\"/>\n",
                           bar_x, margin + k * grid / 20.0, grid / 20.0 + 0.5,
                           color(1 - (k + 0.5) / 10));
    }
    svg += fmt::format(
        "<text x=\"{0}\" y=\"{1}\" font-size=\"10\">{3:+.3g}</text>\n"
        "<text x=\"{0}\" y=\"{2}\" font-size=\"10\">{4:+.3g}</text>\n</svg>\n",
        bar_x + 18, margin + 8, margin + grid, top, -top);
    return svg;
}

}  // namespace structseq
