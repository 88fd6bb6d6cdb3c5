// structseq: the command-line tool. Exit codes: 0 success, 1 runtime failure, 2 usage error.

#include "commands.h"

#include "structseq/build_config.h"
#include "structseq/core/error.h"
#include "structseq/core/log.h"
#include "structseq/core/threads.h"

#include <fmt/format.h>

#include <exception>
#include <vector>

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

int run(int argc, char** argv) {
    CLI::App app{
        "structseq: structured sequence models in C++ (semiseparable linear algebra, the "
        "Birman-Schwinger core, selective state-space models, ridge attention).",
        "structseq"};
    app.set_version_flag("--version", structseq::build::version);
    app.require_subcommand(1, 1);
    int threads = 0;
    app.add_option("--threads", threads,
                   "Threads for every parallel kernel (default: STRUCTSEQ_NUM_THREADS, else the "
                   "number of cores)")
        ->check(CLI::Range(1, 4096));
    std::string log_level;
    app.add_option("--log-level", log_level,
                   "trace, debug, info, warn, error or off (default info)")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

    const std::vector<structseq::cli::Command> commands = {
        // clang-format off
        structseq::cli::add_demo_command(app),
        structseq::cli::add_info_command(app),
        structseq::cli::add_inspect_command(app),
        structseq::cli::add_eval_command(app),
        structseq::cli::add_train_command(app),
        structseq::cli::add_generate_command(app),
        structseq::cli::add_create_synthetic_command(app),
        structseq::cli::add_attention_map_command(app),
        // clang-format on
    };

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
        fmt::print(stderr, "structseq: {}\nRun 'structseq --help' for usage.\n", e.what());
        return kExitUsage;
    }
    try {
        if (threads > 0) structseq::set_num_threads(threads);
        if (!log_level.empty()) structseq::log::set_level(log_level);
        for (const auto& command : commands) {
            if (command.app->parsed()) return command.run();
        }
    } catch (const structseq::Error& e) {
        fmt::print(stderr, "structseq: error: {}\n", e.what());
        return kExitFailure;
    }
    return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        fmt::print(stderr, "structseq: error: {}\n", e.what());
        return kExitFailure;
    }
}
