#pragma once
// Progress for long work. On a terminal: one line redrawn in place, at most ten times a second
//   "train [#########-----------]  45% 450/1000  12.3 it/s  ETA 0:44  loss 3.21"
// Elsewhere (a log file, CI): a plain line every `interval_seconds`, and one at the end.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace structseq {

class ProgressBar {
public:
    enum class Mode { Auto, Terminal, Lines, Silent };

    ProgressBar(std::int64_t total, std::string label, Mode mode = Mode::Auto,
                std::FILE* out = stderr, double interval_seconds = 5.0);
    ~ProgressBar();
    ProgressBar(const ProgressBar&) = delete;
    ProgressBar& operator=(const ProgressBar&) = delete;

    // Advance by `steps`; `status` is shown after the counters ("loss 3.21").
    void advance(std::int64_t steps = 1, std::string_view status = {});
    void finish();  // prints the final state once; the destructor calls it

    std::int64_t done() const { return done_; }
    std::string render(double elapsed_seconds) const;  // the line as it would be printed

private:
    using Clock = std::chrono::steady_clock;
    void print(bool final_line);

    std::int64_t total_;
    std::string label_;
    Mode mode_;
    std::FILE* out_;
    double interval_;
    std::int64_t done_ = 0;
    std::string status_;
    Clock::time_point start_;
    Clock::time_point last_print_;
    bool finished_ = false;
};

}  // namespace structseq
