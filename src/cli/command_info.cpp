// structseq info: version, build options, threads and BLAS in use.

#include "commands.h"

#include "structseq/core/build_info.h"

#include <fmt/format.h>

namespace structseq::cli {

Command add_info_command(CLI::App& parent) {
    CLI::App* app =
        parent.add_subcommand("info", "Print the version, build options, threads and BLAS in use");
    return {app, [] {
                for (const auto& [key, value] : build_info())
                    fmt::print("{:<24}{}\n", key + ":", value);
                return 0;
            }};
}

}  // namespace structseq::cli
