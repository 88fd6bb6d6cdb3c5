#include "structseq/core/progress.h"

#include "test_util.h"

#include <cstdio>
#include <string>

namespace structseq {
namespace {

std::string read_all(std::FILE* f) {
    std::fflush(f);
    std::rewind(f);
    std::string text;
    char buffer[256];
    while (std::fgets(buffer, sizeof buffer, f) != nullptr) text += buffer;
    return text;
}

TEST(ProgressBar, RendersCountersRateAndStatus) {
    ProgressBar bar(200, "train", ProgressBar::Mode::Silent);
    bar.advance(50, "loss 3.21");
    const std::string line = bar.render(10.0);
    EXPECT_NE(line.find("train [#####---------------]  25% 50/200"), std::string::npos) << line;
    EXPECT_NE(line.find("5 it/s  ETA 0:30"), std::string::npos) << line;
    EXPECT_NE(line.find("loss 3.21"), std::string::npos) << line;
}

TEST(ProgressBar, PlainModePrintsOnlyPeriodicLinesAndTheFinalOne) {
    std::FILE* out = std::tmpfile();
    {
        ProgressBar bar(1000, "eval", ProgressBar::Mode::Lines, out, 1e9);
        for (int i = 0; i < 1000; ++i) bar.advance();
    }
    const std::string text = read_all(out);
    EXPECT_EQ(text.find('\r'), std::string::npos);
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;  // interval never elapsed
    EXPECT_NE(text.find("100% 1000/1000"), std::string::npos) << text;
    std::fclose(out);
}

TEST(ProgressBar, TerminalModeRedrawsInPlace) {
    std::FILE* out = std::tmpfile();
    {
        ProgressBar bar(3, "step", ProgressBar::Mode::Terminal, out);
        bar.advance(3);
    }
    const std::string text = read_all(out);
    EXPECT_EQ(text.front(), '\r');
    EXPECT_EQ(text.back(), '\n');
    std::fclose(out);
}

TEST(ProgressBar, UnknownTotalShowsCount) {
    ProgressBar bar(0, "read", ProgressBar::Mode::Silent);
    bar.advance(7);
    EXPECT_NE(bar.render(1.0).find("read 7"), std::string::npos);
}

}  // namespace
}  // namespace structseq
