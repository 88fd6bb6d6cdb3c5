#include "structseq/core/log.h"

#include "structseq/core/error.h"

#include <spdlog/sinks/stdout_sinks.h>

#include <array>
#include <cstdlib>
#include <utility>

namespace structseq::log {

namespace {

constexpr std::array<std::pair<std::string_view, spdlog::level::level_enum>, 6> kLevels = {{
    {"trace", spdlog::level::trace},
    {"debug", spdlog::level::debug},
    {"info", spdlog::level::info},
    {"warn", spdlog::level::warn},
    {"error", spdlog::level::err},
    {"off", spdlog::level::off},
}};

spdlog::level::level_enum parse_level(std::string_view name, std::string_view source) {
    for (const auto& [level_name, level] : kLevels) {
        if (level_name == name) return level;
    }
    fail_argument(source, "the log level", fmt::format("\"{}\"", name),
                  "one of trace, debug, info, warn, error, off");
}

}  // namespace

spdlog::logger& logger() {
    static std::shared_ptr<spdlog::logger> instance = [] {
        auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
        auto created = std::make_shared<spdlog::logger>("structseq", sink);
        created->set_pattern("[%H:%M:%S] %^%l%$: %v");
        const char* env = std::getenv("STRUCTSEQ_LOG_LEVEL");
        created->set_level(env != nullptr && *env != '\0' ? parse_level(env, "STRUCTSEQ_LOG_LEVEL")
                                                          : spdlog::level::info);
        return created;
    }();
    return *instance;
}

void set_level(std::string_view name) {
    logger().set_level(parse_level(name, "log level"));
}

}  // namespace structseq::log
