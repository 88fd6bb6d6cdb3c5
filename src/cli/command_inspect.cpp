// structseq inspect FILE: the tensors of a .safetensors or .npy file and its metadata.

#include "commands.h"

#include "structseq/io/mapped_file.h"
#include "structseq/io/npy.h"
#include "structseq/io/safetensors.h"

#include <fmt/format.h>

#include <algorithm>

namespace structseq::cli {

namespace {

std::string human_bytes(std::uint64_t bytes) {
    if (bytes < 1024) return fmt::format("{} B", bytes);
    if (bytes < 1024 * 1024) return fmt::format("{:.1f} KiB", static_cast<double>(bytes) / 1024);
    if (bytes < 1024ull * 1024 * 1024)
        return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1024.0 * 1024));
    return fmt::format("{:.2f} GiB", static_cast<double>(bytes) / (1024.0 * 1024 * 1024));
}

void print_safetensors(const std::string& path,
                       const std::shared_ptr<const io::MappedFile>& bytes) {
    const auto file = io::SafetensorsFile::parse(bytes, path);
    fmt::print("{}: safetensors, {} tensors, {} (header {} bytes)\n", path, file.entries().size(),
               human_bytes(file.file_bytes()), file.header_bytes());
    std::size_t width = 4;
    for (const auto& e : file.entries()) width = std::max(width, e.name.size());
    fmt::print("  {:<{}}  {:<7} {:<20} {:>12}\n", "name", width, "dtype", "shape", "bytes");
    for (const auto& e : file.entries()) {
        fmt::print("  {:<{}}  {:<7} {:<20} {:>12}\n", e.name, width, e.dtype, shape_string(e.shape),
                   e.end - e.begin);
    }
    if (!file.metadata().empty()) {
        fmt::print("  metadata:\n");
        for (const auto& [key, value] : file.metadata()) fmt::print("    {}: {}\n", key, value);
    }
}

void print_npy(const std::string& path, const io::MappedFile& bytes) {
    const auto header = io::parse_npy_header(bytes, path);
    fmt::print("{}: npy v{}.0, {} {}, {} bytes of data\n", path, header.major_version,
               dtype_name(header.dtype), shape_string(header.shape),
               bytes.size() - header.data_offset);
}

}  // namespace

void print_file_summary(const std::string& path) {
    const auto bytes = io::MappedFile::open(path);
    const std::string_view head(reinterpret_cast<const char*>(bytes->data()),
                                std::min<std::size_t>(bytes->size(), 6));
    if (head == "\x93NUMPY") {
        print_npy(path, *bytes);
    } else {
        print_safetensors(path, bytes);
    }
}

Command add_inspect_command(CLI::App& parent) {
    CLI::App* app = parent.add_subcommand(
        "inspect",
        "List the tensors (name, dtype, shape, bytes) and metadata of a .safetensors or .npy file");
    auto path = std::make_shared<std::string>();
    app->add_option("file", *path, "A .safetensors or .npy file (told apart by content)")
        ->required();
    return {app, [path] {
                print_file_summary(*path);
                return 0;
            }};
}

}  // namespace structseq::cli
