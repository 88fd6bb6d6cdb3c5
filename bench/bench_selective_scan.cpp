// Selective scan at the target shapes, one core, float32: selective_scan.h's call on
// (batch, dim, L) operands and the time-major kernel the Mamba mixer runs, forward and
// forward + backward, in ns per state element (batch · dim · L · N); and the chunked
// time-parallel forward against the sequential one for a long sequence with few channels.

#include "median.h"
#include "structseq/core/rng.h"
#include "structseq/ssm/selective_scan.h"
#include "structseq/ssm/selective_scan_time_major.h"
#include "thread_scope.h"

#include <benchmark/benchmark.h>

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace structseq {
namespace {

constexpr std::int64_t kN = 16;

// Mamba-like operands: Δ around softplus(−4 + …), A = −(1 … N), B, C, z, D random.
struct ScanOperands {
    Tensor u, delta, A, B, C, D, z, bias;
    ScanOperands(std::int64_t batch, std::int64_t dim, std::int64_t L, bool time_major,
                 DType dtype = DType::F32) {
        const Shape rows = time_major ? Shape{batch * L, dim} : Shape{batch, dim, L};
        const Shape selector = time_major ? Shape{batch * L, kN} : Shape{batch, kN, L};
        u = Rng(1).normal(rows, DType::F32);
        delta = Rng(2).normal(rows, DType::F32, 0.0, 0.5);
        z = Rng(3).normal(rows, DType::F32);
        B = Rng(4).normal(selector, DType::F32);
        C = Rng(5).normal(selector, DType::F32);
        D = Rng(6).normal({dim}, DType::F32);
        bias = Rng(7).normal({dim}, DType::F32, -4.0, 0.5);
        A = Tensor({dim, kN}, DType::F32);
        for (std::int64_t d = 0; d < dim; ++d) {
            for (std::int64_t n = 0; n < kN; ++n) A.data<float>()[d * kN + n] = -float(n + 1);
        }
        for (Tensor* t : {&u, &delta, &z, &B, &C, &D, &bias, &A}) *t = t->to(dtype);
    }
};

// Forward and forward + backward alternating: each iteration times `forward`, then each of
// `with_backward` (named runs of a forward and a backward), so that all see the same state of a
// shared machine. Counters, in ns per state element (batch · dim · L · N): the medians of each,
// and the medians of the iterations' ratios to the forward (`<name>_over_fwd`).
void time_alternating(
    benchmark::State& state, double elements, const std::function<void()>& forward,
    const std::vector<std::pair<std::string, std::function<void()>>>& with_backward) {
    using Clock = std::chrono::steady_clock;
    const auto seconds = [](const std::function<void()>& run) {
        const auto start = Clock::now();
        run();
        return std::chrono::duration<double>(Clock::now() - start).count();
    };
    std::vector<double> forward_seconds;
    std::vector<std::vector<double>> both_seconds(with_backward.size()),
        ratios(with_backward.size());
    for (auto _ : state) {
        forward_seconds.push_back(seconds(forward));
        for (std::size_t k = 0; k < with_backward.size(); ++k) {
            both_seconds[k].push_back(seconds(with_backward[k].second));
            ratios[k].push_back(both_seconds[k].back() / forward_seconds.back());
        }
        state.SetIterationTime(both_seconds[0].back());
    }
    state.counters["fwd_ns_per_state_element"] = median(forward_seconds) * 1e9 / elements;
    for (std::size_t k = 0; k < with_backward.size(); ++k) {
        const std::string& name = with_backward[k].first;
        state.counters[name + "_ns_per_state_element"] = median(both_seconds[k]) * 1e9 / elements;
        state.counters[name + "_over_fwd"] = median(ratios[k]);
    }
}

// selective_scan.h's call on (batch, dim, L) operands: the forward; the forward keeping its
// checkpoints and the backward from them (fwd_bwd, what a training step runs); the forward and
// a backward that runs the forward again for its checkpoints (recomputing_fwd_bwd).
void BM_SelectiveScan(benchmark::State& state) {
    const ThreadScope threads(1);
    const std::int64_t batch = state.range(0), dim = state.range(1), L = state.range(2);
    const ScanOperands x(batch, dim, L, false);
    const Tensor dout = Rng(8).normal({batch, dim, L}, DType::F32);
    const auto run = [&](bool keep, bool backward) {
        const SelectiveScanResult r = selective_scan(x.u, x.delta, x.A, x.B, x.C, x.D, x.z, x.bias,
                                                     true, false, "zoh", false, keep);
        benchmark::DoNotOptimize(r.out.raw_data());
        if (!backward) return;
        benchmark::DoNotOptimize(selective_scan_backward(dout, x.u, x.delta, x.A, x.B, x.C, x.D,
                                                         x.z, x.bias, true, "zoh", r.checkpoints)
                                     .du.raw_data());
    };
    time_alternating(state, static_cast<double>(batch * dim * L * kN), [&] { run(false, false); },
                     {{"fwd_bwd", [&] { run(true, true); }},
                      {"recomputing_fwd_bwd", [&] { run(false, true); }}});
}

// The same through the time-major kernel (what the Mamba mixer runs): the forward; the forward
// keeping its checkpoints and the backward from them.
void BM_SelectiveScanTimeMajor(benchmark::State& state) {
    const ThreadScope threads(1);
    const std::int64_t batch = state.range(0), dim = state.range(1), L = state.range(2);
    const ScanOperands x(batch, dim, L, true);
    TimeMajorScanInputs in;
    in.batch = batch;
    in.u = x.u;
    in.delta = x.delta;
    in.A = x.A;
    in.B = x.B;
    in.C = x.C;
    in.D = x.D;
    in.z = x.z;
    in.delta_bias = x.bias;
    in.delta_softplus = true;
    const Tensor dout = Rng(8).normal({batch * L, dim}, DType::F32);
    time_alternating(
        state, static_cast<double>(batch * dim * L * kN),
        [&] { benchmark::DoNotOptimize(selective_scan_time_major(in).out.raw_data()); },
        {{"fwd_bwd", [&] {
              const TimeMajorScanResult r = selective_scan_time_major(in, true);
              benchmark::DoNotOptimize(
                  selective_scan_time_major_backward(in, dout, r.checkpoints).du.raw_data());
          }}});
}

// The target shapes (batch, dim, L) = (2, 1536, 2048) and (1, 768, 8192), N = 16.
void target_shapes(benchmark::internal::Benchmark* b) {
    b->ArgsProduct({{2}, {1536}, {2048}})
        ->ArgsProduct({{1}, {768}, {8192}})
        ->ArgNames({"batch", "dim", "L"})
        ->Unit(benchmark::kMillisecond)
        ->MinTime(5.0)
        ->UseManualTime();
}

BENCHMARK(BM_SelectiveScan)->Name("selective_scan")->Apply(target_shapes);
BENCHMARK(BM_SelectiveScanTimeMajor)->Name("selective_scan_time_major")->Apply(target_shapes);

// One sequence of 2¹⁸ steps, one channel, float64 (the path use_parallel_scan applies to); args:
// use_parallel_scan, threads.
void BM_SelectiveScanTimeParallel(benchmark::State& state) {
    const ThreadScope threads(state.range(1));
    const std::int64_t L = std::int64_t{1} << 18;
    const ScanOperands x(1, 1, L, false, DType::F64);
    for (auto _ : state) {
        benchmark::DoNotOptimize(selective_scan(x.u, x.delta, x.A, x.B, x.C, x.D, x.z, x.bias, true,
                                                false, "zoh", state.range(0) == 1)
                                     .out.raw_data());
    }
}

BENCHMARK(BM_SelectiveScanTimeParallel)
    ->Name("selective_scan_long")
    ->ArgsProduct({{0, 1}, {1, 2}})
    ->ArgNames({"use_parallel_scan", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace structseq
