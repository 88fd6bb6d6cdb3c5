// Core benchmarks: random number throughput (bytes produced per second).

#include "structseq/core/rng.h"
#include "structseq/core/threads.h"

#include <benchmark/benchmark.h>

namespace structseq {
namespace {

template <DType dtype, bool normal>
void BM_Rng(benchmark::State& state) {
    const int saved = num_threads();
    set_num_threads(static_cast<int>(state.range(1)));
    Tensor out({state.range(0)}, dtype);
    Rng rng(1);
    for (auto _ : state) {
        normal ? rng.normal(out) : rng.uniform(out);
        benchmark::DoNotOptimize(out.raw_data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(out.nbytes()));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
    set_num_threads(saved);
}

BENCHMARK(BM_Rng<DType::F32, true>)
    ->Name("rng_normal_f32")
    ->ArgsProduct({{1 << 20}, {1, 2}})
    ->ArgNames({"n", "threads"})
    ->UseRealTime();
BENCHMARK(BM_Rng<DType::F64, true>)
    ->Name("rng_normal_f64")
    ->ArgsProduct({{1 << 20}, {1, 2}})
    ->ArgNames({"n", "threads"})
    ->UseRealTime();
BENCHMARK(BM_Rng<DType::F32, false>)
    ->Name("rng_uniform_f32")
    ->ArgsProduct({{1 << 20}, {1, 2}})
    ->ArgNames({"n", "threads"})
    ->UseRealTime();

}  // namespace
}  // namespace structseq
