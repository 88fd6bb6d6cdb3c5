// Fuzz target: any byte string given to the safetensors reader either parses into entries that
// can all be loaded (or refuse to load with an Error), or is refused with an Error. Anything
// else (a crash, a sanitizer report, another exception) is a finding.

#include "structseq/io/safetensors.h"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace structseq;
    try {
        const auto file = io::SafetensorsFile::parse(
            io::MappedFile::from_bytes(std::string(reinterpret_cast<const char*>(data), size)),
            "fuzz");
        for (const auto& entry : file.entries()) {
            try {
                const Tensor t = file.load(entry.name);
                if (t.nbytes() > 0 && t.raw_data() == nullptr) __builtin_trap();
                (void)file.view(entry.name);
            } catch (const Error&) {
            }
        }
    } catch (const Error&) {
    }
    return 0;
}
