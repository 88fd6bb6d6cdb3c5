// BK-Core benchmarks: forward and forward + backward, ns per element (sequence position).

#include "structseq/bk/birman_schwinger_core.h"
#include "structseq/core/rng.h"
#include "structseq/core/threads.h"
#include "thread_scope.h"

#include <benchmark/benchmark.h>

namespace structseq {
namespace {

// Times forward (and backward) of `options` on a random potential of `batch` rows.
void run_core(benchmark::State& state, const BirmanSchwingerOptions& options, std::int64_t batch,
              bool backward, std::int64_t threads) {
    const ThreadScope scope(threads);
    BirmanSchwingerCore core(options);
    const std::int64_t n = options.n_seq;
    const Tensor v = Rng(1).normal({batch, n}, DType::F64);
    const Tensor grad = Rng(2).normal({batch, n, 2}, DType::F64);
    for (auto _ : state) {
        Tensor f = core.forward(v);
        benchmark::DoNotOptimize(f.raw_data());
        if (backward) {
            Tensor g = core.backward(grad);
            benchmark::DoNotOptimize(g.raw_data());
        }
    }
    state.counters["per_element"] = benchmark::Counter(
        static_cast<double>(batch * n),
        benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// args: batch, N, mode (0 bidirectional, 1 causal), backward (0/1), threads.
void BM_BirmanSchwinger(benchmark::State& state) {
    BirmanSchwingerOptions o;
    o.n_seq = state.range(1);
    o.mode = state.range(2) == 0 ? BkMode::Bidirectional : BkMode::Causal;
    run_core(state, o, state.range(0), state.range(3) == 1, state.range(4));
}

BENCHMARK(BM_BirmanSchwinger)
    ->Name("bk_core")
    ->ArgsProduct({{8}, {1 << 10, 1 << 14, 1 << 20}, {0, 1}, {0, 1}, {1}})
    ->ArgsProduct({{64}, {4096}, {0, 1}, {0, 1}, {1, 2}})
    ->ArgNames({"batch", "n", "causal", "backward", "threads"})
    ->UseRealTime();

// Semiseparable mode: forward (+ backward) against the rank r at B = 8, N = 4096, one thread;
// the cost should grow like N r² per sequence. args: rank, backward (0/1).
void BM_BirmanSchwingerSemiseparable(benchmark::State& state) {
    BirmanSchwingerOptions o;
    o.n_seq = 4096;
    o.use_semiseparable = true;
    o.semiseparable_rank = state.range(0);
    run_core(state, o, 8, state.range(1) == 1, 1);
}

BENCHMARK(BM_BirmanSchwingerSemiseparable)
    ->Name("bk_core_semiseparable")
    ->ArgsProduct({{2, 4, 8, 16, 32}, {0, 1}})
    ->ArgNames({"rank", "backward"})
    ->UseRealTime();

}  // namespace
}  // namespace structseq
