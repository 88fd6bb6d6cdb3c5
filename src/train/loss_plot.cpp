#include "structseq/train/loss_plot.h"

#include "io/xml_escape.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace structseq {

namespace {

constexpr double kWidth = 720, kHeight = 420;
constexpr double kLeft = 70, kRight = 20, kTop = 40, kBottom = 50;

// About `count` round tick values covering [low, high] (steps of 1, 2 or 5 × 10^k).
std::vector<double> ticks(double low, double high, int count) {
    const double raw = (high - low) / count;
    const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    double step = magnitude;
    for (const double m : {1.0, 2.0, 5.0, 10.0}) {
        step = m * magnitude;
        if (step >= raw) break;
    }
    std::vector<double> out;
    for (double v = std::ceil(low / step) * step; v <= high + step * 1e-9; v += step) {
        out.push_back(v);
    }
    return out;
}

}  // namespace

std::string loss_plot_svg(const LossCurve& train, const LossCurve& validation,
                          const std::string& title) {
    double x_max = 1, y_min = std::numeric_limits<double>::infinity(), y_max = -y_min;
    for (const LossCurve* curve : {&train, &validation}) {
        for (const auto& [step, loss] : *curve) {
            if (!std::isfinite(loss)) continue;
            x_max = std::max(x_max, static_cast<double>(step));
            y_min = std::min(y_min, loss);
            y_max = std::max(y_max, loss);
        }
    }
    if (!std::isfinite(y_min)) y_min = 0, y_max = 1;
    if (y_max - y_min < 1e-9) y_min -= 0.5, y_max += 0.5;
    const double pad = 0.05 * (y_max - y_min);
    y_min -= pad;
    y_max += pad;
    const double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
    const auto x_of = [&](double step) { return kLeft + plot_w * step / x_max; };
    const auto y_of = [&](double loss) {
        return kTop + plot_h * (1 - (loss - y_min) / (y_max - y_min));
    };
    std::string svg = fmt::format(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
        "viewBox=\"0 0 {} {}\" font-family=\"sans-serif\" font-size=\"12\">\n"
        "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        "<text x=\"{}\" y=\"24\" font-size=\"15\">{}</text>\n",
        kWidth, kHeight, kWidth, kHeight, kLeft, io::xml_escape(title));
    for (const double v : ticks(0, x_max, 6)) {
        svg += fmt::format(
            "<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#ddd\"/>"
            "<text x=\"{0:.1f}\" y=\"{3}\" text-anchor=\"middle\">{4:g}</text>\n",
            x_of(v), kTop, kTop + plot_h, kTop + plot_h + 16, v);
    }
    for (const double v : ticks(y_min, y_max, 6)) {
        svg += fmt::format(
            "<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" stroke=\"#ddd\"/>"
            "<text x=\"{3}\" y=\"{4:.1f}\" text-anchor=\"end\">{5:g}</text>\n",
            kLeft, y_of(v), kLeft + plot_w, kLeft - 6, y_of(v) + 4, v);
    }
    svg += fmt::format(
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444\"/>\n"
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">step</text>\n"
        "<text x=\"16\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {})\">"
        "loss (nats per token)</text>\n",
        kLeft, kTop, plot_w, plot_h, kLeft + plot_w / 2, kHeight - 10, kTop + plot_h / 2,
        kTop + plot_h / 2);
    const auto polyline = [&](const LossCurve& curve, const char* colour, bool markers) {
        std::string points;
        for (const auto& [step, loss] : curve) {
            if (!std::isfinite(loss)) continue;
            points += fmt::format("{:.1f},{:.1f} ", x_of(static_cast<double>(step)), y_of(loss));
            if (markers) {
                svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n",
                                   x_of(static_cast<double>(step)), y_of(loss), colour);
            }
        }
        svg += fmt::format(
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>\n", colour,
            points);
    };
    polyline(train, "#1f77b4", false);
    polyline(validation, "#ff7f0e", true);
    svg += fmt::format(
        "<text x=\"{0}\" y=\"{1}\" fill=\"#1f77b4\" text-anchor=\"end\">train</text>"
        "<text x=\"{0}\" y=\"{2}\" fill=\"#ff7f0e\" text-anchor=\"end\">validation</text>\n"
        "</svg>\n",
        kLeft + plot_w - 8, kTop + 16, kTop + 32);
    return svg;
}

}  // namespace structseq
