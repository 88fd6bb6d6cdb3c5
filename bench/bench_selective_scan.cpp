// Selective scan at the target shapes, one core: the (batch, dim, L) kernel of
// selective_scan.h (float64 inside) and the time-major kernel the Mamba mixer runs (float32),
// forward and forward + backward, in ns per state element (batch · dim · L · N); and the
// chunked time-parallel forward against the sequential one for a long sequence with few channels.

#include "median.h"
#include "structseq/core/rng.h"
#include "structseq/ssm/selective_scan.h"
#include "structseq/ssm/selective_scan_time_major.h"
#include "thread_scope.h"

#include <benchmark/benchmark.h>

#include <chrono>
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

void set_counters(benchmark::State& state, std::int64_t batch, std::int64_t dim, std::int64_t L) {
    state.counters["ns_per_state_element"] = benchmark::Counter(
        static_cast<double>(batch * dim * L * kN) * 1e-9,
        benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// args: batch, dim, L, backward (0 forward only; 1 forward + backward, which runs the forward
// again for its checkpoints; 2 forward keeping its checkpoints + backward from them).
void BM_SelectiveScan(benchmark::State& state) {
    const ThreadScope threads(1);
    const std::int64_t batch = state.range(0), dim = state.range(1), L = state.range(2);
    const ScanOperands x(batch, dim, L, false);
    const Tensor dout = Rng(8).normal({batch, dim, L}, DType::F32);
    const bool keep = state.range(3) == 2;
    for (auto _ : state) {
        const SelectiveScanResult r = selective_scan(x.u, x.delta, x.A, x.B, x.C, x.D, x.z, x.bias,
                                                     true, false, "zoh", false, keep);
        benchmark::DoNotOptimize(r.out.raw_data());
        if (state.range(3) > 0) {
            benchmark::DoNotOptimize(selective_scan_backward(dout, x.u, x.delta, x.A, x.B, x.C, x.D,
                                                             x.z, x.bias, true, "zoh",
                                                             r.checkpoints)
                                         .du.raw_data());
        }
    }
    set_counters(state, batch, dim, L);
}

// The same through the time-major kernel, forward and forward + backward alternating: each
// iteration times a forward, then a forward that keeps its checkpoints and the backward from
// them (as the mixer does), so that both see the same state of a shared machine. Counters: the
// medians of each, and the median of the iterations' ratios (fwd_bwd_over_fwd).
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
    std::vector<double> forward_seconds, both_seconds, ratios;
    using Clock = std::chrono::steady_clock;
    for (auto _ : state) {
        const auto start = Clock::now();
        benchmark::DoNotOptimize(selective_scan_time_major(in).out.raw_data());
        const auto middle = Clock::now();
        const TimeMajorScanResult r = selective_scan_time_major(in, true);
        benchmark::DoNotOptimize(
            selective_scan_time_major_backward(in, dout, r.checkpoints).du.raw_data());
        const auto end = Clock::now();
        forward_seconds.push_back(std::chrono::duration<double>(middle - start).count());
        both_seconds.push_back(std::chrono::duration<double>(end - middle).count());
        ratios.push_back(both_seconds.back() / forward_seconds.back());
        state.SetIterationTime(both_seconds.back());
    }
    const double elements = static_cast<double>(batch * dim * L * kN);
    state.counters["fwd_ns_per_state_element"] = median(forward_seconds) * 1e9 / elements;
    state.counters["fwd_bwd_ns_per_state_element"] = median(both_seconds) * 1e9 / elements;
    state.counters["fwd_bwd_over_fwd"] = median(ratios);
}

// The target shapes (batch, dim, L) = (2, 1536, 2048) and (1, 768, 8192), N = 16.
void issue_shapes(benchmark::internal::Benchmark* b) {
    b->ArgsProduct({{2}, {1536}, {2048}, {0, 1, 2}})
        ->ArgsProduct({{1}, {768}, {8192}, {0, 1, 2}})
        ->ArgNames({"batch", "dim", "L", "backward"})
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
}

BENCHMARK(BM_SelectiveScan)->Name("selective_scan")->Apply(issue_shapes);
BENCHMARK(BM_SelectiveScanTimeMajor)
    ->Name("selective_scan_time_major")
    ->ArgsProduct({{2}, {1536}, {2048}})
    ->ArgsProduct({{1}, {768}, {8192}})
    ->ArgNames({"batch", "dim", "L"})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(5.0)
    ->UseManualTime();

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
