#include "structseq/core/progress.h"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace structseq {

namespace {

std::string format_duration(double seconds) {
    const auto total = static_cast<long>(std::llround(std::max(0.0, seconds)));
    if (total >= 3600)
        return fmt::format("{}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60);
    return fmt::format("{}:{:02}", total / 60, total % 60);
}

}  // namespace

ProgressBar::ProgressBar(std::int64_t total, std::string label, Mode mode, std::FILE* out,
                         double interval_seconds)
    : total_(std::max<std::int64_t>(total, 0)),
      label_(std::move(label)),
      mode_(mode),
      out_(out),
      interval_(interval_seconds),
      start_(Clock::now()),
      last_print_(start_) {
    if (mode_ == Mode::Auto) mode_ = isatty(fileno(out_)) ? Mode::Terminal : Mode::Lines;
}

ProgressBar::~ProgressBar() {
    try {
        finish();
    } catch (...) {  // a closed or full output must not turn into std::terminate
    }
}

std::string ProgressBar::render(double elapsed) const {
    const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
    std::string line = label_;
    if (total_ > 0) {
        const double fraction =
            std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_));
        constexpr int kWidth = 20;
        const int filled = static_cast<int>(fraction * kWidth);
        line += fmt::format(" [{}{}] {:3.0f}% {}/{}", std::string(filled, '#'),
                            std::string(kWidth - filled, '-'), 100.0 * fraction, done_, total_);
        if (rate > 0 && done_ < total_) {
            line += fmt::format("  {:.3g} it/s  ETA {}", rate,
                                format_duration(static_cast<double>(total_ - done_) / rate));
        } else {
            line += fmt::format("  {:.3g} it/s  {}", rate, format_duration(elapsed));
        }
    } else {
        line += fmt::format(" {}  {:.3g} it/s  {}", done_, rate, format_duration(elapsed));
    }
    if (!status_.empty()) line += "  " + status_;
    return line;
}

void ProgressBar::advance(std::int64_t steps, std::string_view status) {
    if (finished_) return;
    done_ += steps;
    if (!status.empty()) status_ = status;
    const auto now = Clock::now();
    const double since = std::chrono::duration<double>(now - last_print_).count();
    const double wanted = mode_ == Mode::Terminal ? 0.1 : interval_;
    if (since >= wanted) print(false);
}

void ProgressBar::finish() {
    if (finished_) return;
    finished_ = true;
    print(true);
}

void ProgressBar::print(bool final_line) {
    last_print_ = Clock::now();
    if (mode_ == Mode::Silent) return;
    const double elapsed = std::chrono::duration<double>(last_print_ - start_).count();
    const std::string line = render(elapsed);
    if (mode_ == Mode::Terminal) {
        fmt::print(out_, "\r{}\x1b[K{}", line, final_line ? "\n" : "");
    } else {
        fmt::print(out_, "{}\n", line);
    }
    std::fflush(out_);
}

}  // namespace structseq
