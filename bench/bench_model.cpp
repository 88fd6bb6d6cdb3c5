// Mamba language model: a training step's forward + backward (loss and every gradient) with its
// model-FLOP utilization, prompt processing and generation at mamba-130m's shape, and the
// machine's streaming read bandwidth that bounds generation.

#include "structseq/core/rng.h"
#include "structseq/model/mamba_model.h"
#include "structseq/nn/linear.h"
#include "thread_scope.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>

namespace structseq {
namespace {

// Random float32 weights of the given shape (Mamba's usual d_state 16, d_conv 4, expand 2).
MambaModel random_model(std::int64_t d_model, std::int64_t layers, std::int64_t vocab) {
    MambaConfig c;
    c.d_model = d_model;
    c.n_layer = layers;
    c.vocab_size = vocab;
    c.d_inner = 2 * d_model;
    c.dt_rank = (d_model + 15) / 16;
    const auto normal = [](Shape shape, std::uint64_t seed, double scale, double mean = 0.0) {
        return Rng(seed).normal(std::move(shape), DType::F32, mean, scale);
    };
    MambaWeights w;
    w.embedding = normal({vocab, d_model}, 1, 0.02);
    w.norm_f = normal({d_model}, 2, 0.0, 1.0);
    for (std::int64_t l = 0; l < layers; ++l) {
        const std::uint64_t s = 100 * (l + 1);
        MambaLayerWeights layer;
        layer.norm = normal({d_model}, s, 0.0, 1.0);
        MambaMixerWeights& m = layer.mixer;
        m.in_proj = normal({2 * c.d_inner, d_model}, s + 1, 0.02);
        m.conv_weight = normal({c.d_inner, c.d_conv}, s + 2, 0.3);
        m.conv_bias = normal({c.d_inner}, s + 3, 0.02);
        m.x_proj = normal({c.dt_rank + 2 * c.d_state, c.d_inner}, s + 4, 0.02);
        m.dt_proj = normal({c.d_inner, c.dt_rank}, s + 5, 0.1);
        m.dt_proj_bias = normal({c.d_inner}, s + 6, 1.0, -4.0);
        m.A_log = normal({c.d_inner, c.d_state}, s + 7, 0.1, 1.0);
        m.D = normal({c.d_inner}, s + 8, 0.0, 1.0);
        m.out_proj = normal({d_model, c.d_inner}, s + 9, 0.02);
        w.layers.push_back(std::move(layer));
    }
    return MambaModel(c, std::move(w));
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

// The 11.7 M-parameter training config: d_model 384, 12 layers, vocabulary 256,
// batch 8 × 256 tokens. args: threads.
void BM_MambaTrainingStep(benchmark::State& state) {
    const ThreadScope scope(state.range(0));
    const MambaModel model = random_model(384, 12, 256);
    const Tensor tokens = random_tokens(8, 256, 256, 1), targets = random_tokens(8, 256, 256, 2);
    for (auto _ : state) {
        MambaWeights grads = model.weights().zeros_like();
        benchmark::DoNotOptimize(model.loss(tokens, targets, &grads));
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
    ->Name("mamba_training_step_fwd_bwd")
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

// Generation at mamba-130m's shape: one token per iteration on the recurrent state. Every token
// reads every weight once, so weights_GB_per_second (parameters · 4 bytes · tokens/s) set against
// memory_read_bandwidth below, in the same run, says how close generation is to its bound. args:
// threads.
void BM_MambaGeneration(benchmark::State& state) {
    const ThreadScope scope(state.range(0));
    const MambaModel& model = model_130m();
    MambaState recurrent = model.initial_state(1);
    Tensor token({1}, DType::I64);
    std::int64_t k = 0;
    for (auto _ : state) {
        token.data<std::int64_t>()[0] = (k++ * 7919) % 50280;
        benchmark::DoNotOptimize(model.step(token, recurrent).raw_data());
    }
    state.counters["tokens_per_second"] =
        benchmark::Counter(1.0, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["weights_GB_per_second"] =
        benchmark::Counter(4e-9 * static_cast<double>(model.parameter_count()),
                           benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_MambaGeneration)
    ->Name("mamba_generation_130m")
    ->Arg(1)
    ->Arg(2)
    ->ArgName("threads")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Streaming read bandwidth: the bound for generation, which reads every weight once per token
// (~0.52 GB of float32 at mamba-130m's shape). Sums a 1 GiB float32 buffer, eight independent
// accumulators so that the adds keep up with memory. args: threads.
void BM_ReadBandwidth(benchmark::State& state) {
    const ThreadScope scope(state.range(0));
    const std::int64_t n = std::int64_t{1} << 28;  // 1 GiB of float32
    const Tensor buffer = Rng(3).uniform({n}, DType::F32);
    const float* p = buffer.data<float>();
    for (auto _ : state) {
        double total = 0;
#pragma omp parallel for reduction(+ : total) schedule(static) num_threads(state.range(0))
        for (std::int64_t block = 0; block < n / 4096; ++block) {
            float acc[8] = {};
            for (std::int64_t i = block * 4096; i < (block + 1) * 4096; i += 8) {
                for (int k = 0; k < 8; ++k) acc[k] += p[i + k];
            }
            for (float a : acc) total += a;
        }
        benchmark::DoNotOptimize(total);
    }
    state.counters["GB_per_second"] = benchmark::Counter(
        static_cast<double>(n) * 4e-9, benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_ReadBandwidth)
    ->Name("memory_read_bandwidth")
    ->Arg(1)
    ->Arg(2)
    ->ArgName("threads")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace structseq
