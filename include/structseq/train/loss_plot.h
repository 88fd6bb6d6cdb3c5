#pragma once
// The training and validation loss curves as a standalone SVG: loss (nats per token) against the
// optimizer step, both on linear axes with labelled ticks, train in blue, validation in orange
// with a marker per evaluation.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace structseq {

using LossCurve = std::vector<std::pair<std::int64_t, double>>;  // (step, loss), by step

std::string loss_plot_svg(const LossCurve& train, const LossCurve& validation,
                          const std::string& title);

}  // namespace structseq
