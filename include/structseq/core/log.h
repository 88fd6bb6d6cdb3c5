#pragma once
// Logging to stderr through spdlog. The level starts at STRUCTSEQ_LOG_LEVEL when set
// (trace, debug, info, warn, error, off), else info.

#include <spdlog/spdlog.h>

#include <string_view>

namespace structseq::log {

spdlog::logger& logger();
void set_level(std::string_view name);  // Error naming the valid levels when unknown

template <class... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
    logger().debug(f, std::forward<Args>(args)...);
}
template <class... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
    logger().info(f, std::forward<Args>(args)...);
}
template <class... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
    logger().warn(f, std::forward<Args>(args)...);
}

}  // namespace structseq::log
