// Fuzz target: any text given to the YAML configuration loader is either read into a complete
// configuration (whose YAML dump reads back to the same values) or refused with an Error.

#include "structseq/io/config.h"

#include "structseq/core/error.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {

structseq::io::ConfigField schema() {
    using F = structseq::io::ConfigField;
    return F::section({
        {"model", F::section({
                      {"vocab_size", F::integer(256).at_least(1)},
                      {"dropout", F::number(0.1).at_least(0).at_most(1)},
                      {"activation", F::choice("gelu", {"gelu", "silu"})},
                      {"mixer", F::strings({"ssm"})},
                      {"use_parallel_scan", F::boolean(true)},
                  })},
        {"training", F::section({{"learning_rate", F::number(5e-4).greater_than(0)}})},
        {"teacher", F::string("").no_default()},
    });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto config_schema = schema();
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        const auto config = structseq::io::parse_config(text, config_schema, "fuzz.yaml");
        const auto again =
            structseq::io::parse_config(config.to_yaml(), config_schema, "dump.yaml");
        if (again.values() != config.values()) __builtin_trap();
    } catch (const structseq::Error&) {
    }
    return 0;
}
