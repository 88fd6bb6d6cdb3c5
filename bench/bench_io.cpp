// I/O benchmarks: safetensors write (atomic, fsync included) and open + load, .npy round trip.

#include "structseq/core/rng.h"
#include "structseq/io/npy.h"
#include "structseq/io/safetensors.h"

#include <benchmark/benchmark.h>

#include <filesystem>

#include <unistd.h>

namespace structseq {
namespace {

std::string bench_path(const char* name) {
    return (std::filesystem::temp_directory_path() /
            fmt::format("structseq-bench-{}-{}", ::getpid(), name))
        .string();
}

io::NamedTensors model_like(std::int64_t megabytes) {
    Rng rng(1);
    const std::int64_t rows = megabytes * (1 << 20) / (4 * 1024);
    return {{"embedding.weight", rng.normal({rows, 1024}, DType::F32)},
            {"norm.weight", rng.normal({1024}, DType::F32)}};
}

void BM_SafetensorsSave(benchmark::State& state) {
    const auto tensors = model_like(state.range(0));
    const auto path = bench_path("save.safetensors");
    for (auto _ : state) io::save_safetensors(path, tensors);
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0) *
                            (1 << 20));
    std::filesystem::remove(path);
}

void BM_SafetensorsLoad(benchmark::State& state) {
    const auto path = bench_path("load.safetensors");
    io::save_safetensors(path, model_like(state.range(0)));
    for (auto _ : state) {
        const auto file = io::SafetensorsFile::open(path);
        for (const auto& entry : file.entries())
            benchmark::DoNotOptimize(file.load(entry.name).raw_data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0) *
                            (1 << 20));
    std::filesystem::remove(path);
}

void BM_SafetensorsOpenAndView(benchmark::State& state) {
    const auto path = bench_path("view.safetensors");
    io::save_safetensors(path, model_like(state.range(0)));
    for (auto _ : state) {
        const auto file = io::SafetensorsFile::open(path);
        benchmark::DoNotOptimize(file.view("embedding.weight").raw_data());
    }
    std::filesystem::remove(path);
}

void BM_NpyLoad(benchmark::State& state) {
    const auto path = bench_path("load.npy");
    io::save_npy(path, model_like(state.range(0))[0].second);
    for (auto _ : state) benchmark::DoNotOptimize(io::load_npy(path).raw_data());
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0) *
                            (1 << 20));
    std::filesystem::remove(path);
}

BENCHMARK(BM_SafetensorsSave)
    ->Name("safetensors_save")
    ->Arg(64)
    ->ArgName("MiB")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SafetensorsLoad)
    ->Name("safetensors_load")
    ->Arg(64)
    ->ArgName("MiB")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SafetensorsOpenAndView)
    ->Name("safetensors_open_view")
    ->Arg(64)
    ->ArgName("MiB")
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_NpyLoad)
    ->Name("npy_load")
    ->Arg(64)
    ->ArgName("MiB")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace structseq
