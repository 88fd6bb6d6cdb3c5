// Mamba language model: a training step's forward + backward (loss and every gradient) with its
// model-FLOP utilization, prompt processing at mamba-130m's shape, and generation there against
// the machine's streaming read bandwidth that bounds it.

#include "median.h"
#include "structseq/core/cpu_dispatch.h"
#include "structseq/core/lane_vector.h"
#include "structseq/core/rng.h"
#include "structseq/model/mamba_init.h"
#include "structseq/model/mamba_model.h"
#include "structseq/nn/linear.h"
#include "structseq/train/adamw.h"
#include "thread_scope.h"

#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace structseq {
namespace {

// Mamba's initial weights (mamba_init.h) for the given shape, float32.
MambaModel random_model(std::int64_t d_model, std::int64_t layers, std::int64_t vocab) {
    const MambaConfig c = mamba_config(d_model, layers, vocab);
    return MambaModel(c, init_mamba_weights(c));
}

Tensor random_tokens(std::int64_t batch, std::int64_t length, std::int64_t vocab,
                     std::uint64_t seed) {
    const Tensor u = Rng(seed).uniform({batch, length}, DType::F64);
    Tensor t({batch, length}, DType::I64);
    for (std::int64_t k = 0; k < t.numel(); ++k) {
        t.data<std::int64_t>()[k] = static_cast<std::int64_t>(u.data<double>()[k] * vocab) % vocab;
    }
    return t;
}

// OpenBLAS sgemm's rate on this machine and thread count: the best of five (2048 × 1024) ·
// (1024 × 1024) products through linear_forward, in FLOP/s.
double sgemm_peak_flops() {
    const Tensor x = Rng(4).normal({2048, 1024}, DType::F32, 0.0, 1.0);
    const Tensor W = Rng(5).normal({1024, 1024}, DType::F32, 0.0, 1.0);
    double best = 0;
    for (int k = 0; k < 5; ++k) {
        const auto start = std::chrono::steady_clock::now();
        benchmark::DoNotOptimize(linear_forward(x, W, nullptr));
        const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
        best = std::max(best, 2.0 * 2048 * 1024 * 1024 / seconds.count());
    }
    return best;
}

// A full training step (forward, backward, AdamW update) of the 11.7 M-parameter
// config: d_model 384, 12 layers, vocabulary 256, batch 8 × 256 tokens. args: threads.
void BM_MambaTrainingStep(benchmark::State& state) {
    const ThreadScope scope(state.range(0));
    MambaModel model = random_model(384, 12, 256);
    MambaWeights weights = model.weights();  // shares the model's storage
    AdamW optimizer(adamw_parameters(weights.named_tensors()));
    const Tensor tokens = random_tokens(8, 256, 256, 1), targets = random_tokens(8, 256, 256, 2);
    for (auto _ : state) {
        MambaWeights grads = model.weights().zeros_like();
        benchmark::DoNotOptimize(model.loss(tokens, targets, &grads));
        std::vector<const Tensor*> g;
        for (const auto& named : grads.named_tensors()) g.push_back(named.second);
        optimizer.step(g, 1e-3);
    }
    state.counters["tokens_per_second"] =
        benchmark::Counter(8.0 * 256.0, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["parameters"] = static_cast<double>(model.parameter_count());
    // Model-FLOP utilization: 6 · parameters · tokens/s over sgemm's rate on the same threads.
    const double peak = sgemm_peak_flops();
    state.counters["sgemm_GFLOP_per_second"] = peak * 1e-9;
    state.counters["mfu"] =
        benchmark::Counter(6.0 * static_cast<double>(model.parameter_count()) * 8.0 * 256.0 / peak,
                           benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_MambaTrainingStep)
    ->Name("mamba_training_step")
    ->Arg(1)
    ->Arg(2)
    ->ArgName("threads")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// mamba-130m's shape (d_model 768, 24 layers, vocabulary 50280) with random float32 weights,
// built once for the benchmarks that use it.
const MambaModel& model_130m() {
    static const MambaModel model = random_model(768, 24, 50280);
    return model;
}

// The same model with its step weights stored in bfloat16
// (MambaModel::quantize_weights_to_bfloat16).
const MambaModel& model_130m_bfloat16() {
    static const MambaModel model = [] {
        MambaModel quantized = model_130m();
        quantized.quantize_weights_to_bfloat16();
        return quantized;
    }();
    return model;
}

// Prompt processing at mamba-130m's shape: one forward over 128 tokens, logits of the last
// position only (what generation needs). args: threads.
void BM_MambaPrompt(benchmark::State& state) {
    const ThreadScope scope(state.range(0));
    const MambaModel& model = model_130m();
    const Tensor prompt = random_tokens(1, 128, 50280, 3);
    for (auto _ : state) benchmark::DoNotOptimize(model.logits(prompt, true).raw_data());
    state.counters["tokens_per_second"] =
        benchmark::Counter(128.0, benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_MambaPrompt)
    ->Name("mamba_prompt_130m")
    ->Arg(1)
    ->Arg(2)
    ->ArgName("threads")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// One row through a (50280 × 768) float32 matrix, mamba-130m's head: 154 MB, far beyond the
// caches, so the product runs at the rate W streams from memory. impl 0: linear_forward (the
// streaming GEMV generation uses, nn/streaming_gemv.h); impl 1: OpenBLAS's sgemv, which walks
// four rows side by side. One thread. args: impl.
void BM_OneRowProduct(benchmark::State& state) {
    const ThreadScope scope(1);
    const std::int64_t rows = 50280, cols = 768;
    const Tensor W = Rng(9).normal({rows, cols}, DType::F32);
    const Tensor x = Rng(10).normal({1, cols}, DType::F32);
    Tensor y = Tensor::empty({1, rows}, DType::F32);
    for (auto _ : state) {
        if (state.range(0) == 0) {
            benchmark::DoNotOptimize(linear_forward(x, W, nullptr).raw_data());
        } else {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, rows, cols, 1.0f, W.data<float>(), cols,
                        x.data<float>(), 1, 0.0f, y.data<float>(), 1);
            benchmark::DoNotOptimize(y.raw_data());
        }
    }
    state.counters["GB_per_second"] = benchmark::Counter(
        4e-9 * static_cast<double>(rows * cols), benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_OneRowProduct)
    ->Name("one_row_product_50280x768")
    ->Arg(0)
    ->Arg(1)
    ->ArgName("openblas")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Sums [begin, end) of p (a multiple of 64 values) with four 64-byte accumulators, compiled for
// the machine's widest vectors: a streaming read at the rate memory delivers. The clones sit
// below the parallel region, whose body GCC would compile for the baseline CPU.
STRUCTSEQ_CPU_CLONES double sum_range(const float* p, std::int64_t begin, std::int64_t end) {
    using V = LaneVector<float, 16>;
    V a0 = {}, a1 = {}, a2 = {}, a3 = {};
    for (std::int64_t i = begin; i < end; i += 64) {
        a0 += load_lanes<V>(p + i);
        a1 += load_lanes<V>(p + i + 16);
        a2 += load_lanes<V>(p + i + 32);
        a3 += load_lanes<V>(p + i + 48);
    }
    return lane_sum((a0 + a1) + (a2 + a3));
}

// Sums n float32 values (a multiple of 64 · threads) with the given threads, each one
// contiguous part: the machine's streaming read bandwidth.
double sum_values(const float* p, std::int64_t n, int threads) {
    double total = 0;
#pragma omp parallel for reduction(+ : total) schedule(static) num_threads(threads)
    for (int part = 0; part < threads; ++part) {
        total += sum_range(p, n * part / threads, n * (part + 1) / threads);
    }
    return total;
}

// A 1 GiB float32 buffer for the read-bandwidth measurement.
const Tensor& read_buffer() {
    static const Tensor buffer = Rng(3).uniform({std::int64_t{1} << 28}, DType::F32);
    return buffer;
}

// Generation at mamba-130m's shape against its bound: every token reads every weight once
// (step_weight_bytes: ~0.52 GB in float32), so the machine's streaming read bandwidth bounds it.
// Each iteration times one token on the recurrent state, then one read of the 1 GiB buffer, so
// that both see the same state of a shared machine (two-thread bandwidth has moved between about
// 28 and 44 GB/s from minute to minute).
// fraction_of_bound is the median token's weight traffic rate over the median read rate.
// args: threads, bfloat16 weights (0 / 1).
void BM_GenerationAgainstBandwidth(benchmark::State& state) {
    const ThreadScope scope(state.range(0));
    const MambaModel& model = state.range(1) != 0 ? model_130m_bfloat16() : model_130m();
    const Tensor& buffer = read_buffer();
    MambaState recurrent = model.initial_state(1);
    Tensor token({1}, DType::I64);
    std::int64_t k = 0;
    std::vector<double> token_seconds, read_seconds;
    using Clock = std::chrono::steady_clock;
    for (auto _ : state) {
        token.data<std::int64_t>()[0] = (k++ * 7919) % 50280;
        const auto start = Clock::now();
        benchmark::DoNotOptimize(model.step(token, recurrent).raw_data());
        const auto middle = Clock::now();
        benchmark::DoNotOptimize(
            sum_values(buffer.data<float>(), buffer.numel(), static_cast<int>(state.range(0))));
        const auto end = Clock::now();
        token_seconds.push_back(std::chrono::duration<double>(middle - start).count());
        read_seconds.push_back(std::chrono::duration<double>(end - middle).count());
        state.SetIterationTime(token_seconds.back());
    }
    const double weights_gb = 1e-9 * static_cast<double>(model.step_weight_bytes());
    const double read_gb = 4e-9 * static_cast<double>(buffer.numel());
    state.counters["tokens_per_second"] = 1.0 / median(token_seconds);
    state.counters["weights_GB_per_second"] = weights_gb / median(token_seconds);
    state.counters["read_GB_per_second"] = read_gb / median(read_seconds);
    state.counters["fraction_of_bound"] =
        (weights_gb / median(token_seconds)) / (read_gb / median(read_seconds));
}

BENCHMARK(BM_GenerationAgainstBandwidth)
    ->Name("mamba_generation_against_bandwidth")
    ->ArgsProduct({{1, 2}, {0, 1}})
    ->ArgNames({"threads", "bfloat16"})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(5.0)
    ->UseManualTime();

}  // namespace
}  // namespace structseq
