// structseq demo: a short tour of what the engine does today, with measured figures.

#include "commands.h"

#include "structseq/core/build_info.h"
#include "structseq/core/rng.h"
#include "structseq/core/threads.h"
#include "structseq/io/safetensors.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>

#include <unistd.h>

namespace structseq::cli {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Draws `n` normals with `threads` threads; returns the tensor and the seconds it took.
std::pair<Tensor, double> timed_normals(std::int64_t n, int threads) {
    const int saved = num_threads();
    set_num_threads(threads);
    Rng rng(2024);
    const auto start = std::chrono::steady_clock::now();
    Tensor out = rng.normal({n}, DType::F32);
    const double elapsed = seconds_since(start);
    set_num_threads(saved);
    return {out, elapsed};
}

void tour_random_numbers(std::int64_t n) {
    fmt::print(
        "\n1. Counter-based random numbers (Philox4x32-10): same bits whatever the thread count\n");
    const int threads = num_threads();
    const auto [one, t1] = timed_normals(n, 1);
    const auto [many, tn] = timed_normals(n, threads);
    const bool same = std::memcmp(one.raw_data(), many.raw_data(), one.nbytes()) == 0;
    double sum = 0;
    double squares = 0;
    const float* x = one.data<float>();
    for (std::int64_t i = 0; i < n; ++i) {
        sum += x[i];
        squares += static_cast<double>(x[i]) * x[i];
    }
    const double mean = sum / static_cast<double>(n);
    fmt::print("   {} normals: {:.3f} s on 1 thread, {:.3f} s on {} threads; bit-identical: {}\n",
               n, t1, tn, threads, same ? "yes" : "NO");
    fmt::print("   sample mean {:+.5f}, sample std {:.5f} (expected 0 and 1)\n", mean,
               std::sqrt(squares / static_cast<double>(n) - mean * mean));
}

void tour_safetensors(const std::filesystem::path& folder, std::int64_t rows) {
    fmt::print(
        "\n2. safetensors: atomic write, memory-mapped and validated read, zero-copy views\n");
    Rng rng(7);
    io::NamedTensors tensors = {
        {"embedding.weight", rng.normal({rows, 256}, DType::F32)},
        {"layers.0.mixer.A_log", rng.normal({256, 16}, DType::F64)},
        {"norm.weight", rng.uniform({256}, DType::F32, 0.5, 1.5)},
    };
    const std::string path = (folder / "tour.safetensors").string();
    auto start = std::chrono::steady_clock::now();
    io::save_safetensors(path, tensors, {{"format", "pt"}, {"written_by", "structseq demo"}});
    const double write_s = seconds_since(start);
    const auto bytes = std::filesystem::file_size(path);
    start = std::chrono::steady_clock::now();
    const auto file = io::SafetensorsFile::open(path);
    const Tensor view = file.view("embedding.weight");
    const double open_s = seconds_since(start);
    bool exact = true;
    for (const auto& [name, tensor] : tensors) {
        const Tensor loaded = file.load(name);
        exact = exact && std::memcmp(loaded.raw_data(), tensor.raw_data(), tensor.nbytes()) == 0;
    }
    fmt::print("   wrote {:.1f} MiB in {:.3f} s ({:.2f} GB/s, fsync included)\n",
               static_cast<double>(bytes) / (1 << 20), write_s,
               static_cast<double>(bytes) / write_s / 1e9);
    fmt::print(
        "   opened, validated and viewed 'embedding.weight' {} without a copy in {:.3f} ms\n",
        shape_string(view.shape()), open_s * 1e3);
    fmt::print("   every tensor read back bit-exact: {}\n\n", exact ? "yes" : "NO");
    print_file_summary(path);
}

}  // namespace

Command add_demo_command(CLI::App& parent) {
    CLI::App* app =
        parent.add_subcommand("demo", "A short tour of the engine with measured figures");
    auto samples = std::make_shared<std::int64_t>(1 << 24);
    app->add_option("--samples", *samples, "How many random normals to draw in the RNG tour")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 30))
        ->capture_default_str();
    return {app, [samples] {
                fmt::print("structseq tour\n");
                for (const auto& [key, value] : build_info())
                    fmt::print("   {:<24}{}\n", key + ":", value);
                tour_random_numbers(*samples);
                const auto folder = std::filesystem::temp_directory_path() /
                                    fmt::format("structseq-demo-{}", ::getpid());
                std::filesystem::create_directories(folder);
                try {
                    tour_safetensors(folder, 1 << 14);
                } catch (...) {
                    std::filesystem::remove_all(folder);
                    throw;
                }
                std::filesystem::remove_all(folder);
                return 0;
            }};
}

}  // namespace structseq::cli
