// Attention benchmarks at (batch 1, heads 4, n, d = d_v = 64), float32: causal ridge attention
// in its chunked and Sherman–Morrison forms and its backward, causal softmax attention and its
// backward, and one spectral-KV-cache query against an exact one over n cached positions.

#include "structseq/attention/kv_cache.h"
#include "structseq/attention/ridge_attention.h"
#include "structseq/attention/softmax_attention.h"
#include "structseq/core/rng.h"
#include "thread_scope.h"

#include <benchmark/benchmark.h>

namespace structseq {
namespace {

constexpr std::int64_t kHeads = 4, kDim = 64;

Tensor inputs(std::int64_t n, std::uint64_t seed) {
    return Rng(seed).normal({1, kHeads, n, kDim}, DType::F32, 0.0, 0.125);
}

// args: n, method (0 chunked, 1 Sherman–Morrison, 2 chunked backward), chunk size, threads.
void BM_RidgeAttention(benchmark::State& state) {
    const ThreadScope scope(state.range(3));
    const std::int64_t n = state.range(0);
    const Tensor q = inputs(n, 1), k = inputs(n, 2), v = inputs(n, 3), dout = inputs(n, 4);
    RidgeAttentionOptions o;
    o.method = state.range(1) == 1 ? RidgeMethod::SequentialShermanMorrison : RidgeMethod::Chunked;
    o.chunk_size = state.range(2);
    for (auto _ : state) {
        if (state.range(1) == 2) {
            RidgeAttentionGrads g = ridge_attention_backward(dout, q, k, v, {1.0}, o);
            benchmark::DoNotOptimize(g.dq.raw_data());
        } else {
            Tensor out = ridge_attention(q, k, v, {1.0}, o);
            benchmark::DoNotOptimize(out.raw_data());
        }
    }
}

BENCHMARK(BM_RidgeAttention)
    ->Name("ridge_attention")
    ->ArgsProduct({{4096}, {0, 2}, {16, 32, 64, 128, 256}, {1}})
    ->ArgsProduct({{4096}, {1}, {64}, {1}})
    ->ArgsProduct({{4096}, {0, 2}, {64}, {2}})
    ->ArgNames({"n", "method", "chunk", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// args: n, backward (0/1), threads.
void BM_SoftmaxAttention(benchmark::State& state) {
    const ThreadScope scope(state.range(2));
    const std::int64_t n = state.range(0);
    const Tensor q = inputs(n, 1), k = inputs(n, 2), v = inputs(n, 3), dout = inputs(n, 4);
    for (auto _ : state) {
        SoftmaxAttentionResult r = softmax_attention(q, k, v, true);
        benchmark::DoNotOptimize(r.out.raw_data());
        if (state.range(1) == 1) {
            SoftmaxAttentionGrads g = softmax_attention_backward(dout, q, k, v, r, true);
            benchmark::DoNotOptimize(g.dq.raw_data());
        }
    }
}

BENCHMARK(BM_SoftmaxAttention)
    ->Name("softmax_attention")
    ->ArgsProduct({{1024, 4096}, {0, 1}, {1, 2}})
    ->ArgNames({"n", "backward", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// One generated token's attention over n cached positions (heads 4, head_dim 64): args: n,
// cache (0 exact, 1 spectral with blocks of 512 and ranks 16 / 32).
void BM_KvCacheAttend(benchmark::State& state) {
    const ThreadScope scope(1);
    const std::int64_t n = state.range(0);
    KvCacheOptions o;
    o.kind = state.range(1) == 0 ? "exact" : "spectral";
    const auto cache = make_kv_cache(o, kHeads, kDim);
    cache->append(inputs(n, 1).select(0, 0), inputs(n, 2).select(0, 0));
    const Tensor q = inputs(1, 3).select(0, 0);
    for (auto _ : state) {
        Tensor out = cache->attend(q);
        benchmark::DoNotOptimize(out.raw_data());
    }
    state.counters["cache_MiB"] = static_cast<double>(cache->memory_bytes()) / (1 << 20);
}

BENCHMARK(BM_KvCacheAttend)
    ->Name("kv_cache_attend")
    ->ArgsProduct({{4096, 16384}, {0, 1}})
    ->ArgNames({"n", "spectral"})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace
}  // namespace structseq
