// SSM toolkit benchmarks: direct vs FFT causal convolution against L, each kernel method
// against L and n, and the linear scan sequential vs chunked-parallel at L = 10⁶.

#include "structseq/core/rng.h"
#include "structseq/core/threads.h"
#include "structseq/ssm/causal_conv.h"
#include "structseq/ssm/linear_scan.h"
#include "structseq/ssm/ssm_kernel.h"
#include "thread_scope.h"

#include <benchmark/benchmark.h>

namespace structseq {
namespace {

// args: L, method (0 direct, 1 fft). B = 4, H = 16, float32, Lk = L, one thread.
void BM_CausalConv(benchmark::State& state) {
    const ThreadScope threads(1);
    const std::int64_t L = state.range(0);
    const Tensor u = Rng(1).normal({4, L, 16}, DType::F32);
    const Tensor K = Rng(2).normal({L, 16}, DType::F32);
    const char* method = state.range(1) == 0 ? "direct" : "fft";
    for (auto _ : state) {
        Tensor y = causal_conv(u, K, method);
        benchmark::DoNotOptimize(y.raw_data());
    }
}

BENCHMARK(BM_CausalConv)
    ->Name("causal_conv")
    ->ArgsProduct({{64, 256, 1024, 4096}, {0, 1}})
    ->Args({16384, 1})
    ->ArgNames({"L", "fft"})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// args: n, L, method (0 recurrent, 1 doubling, 2 diagonal, 3 dplr rank 1). A is a stable
// random matrix (or its diagonal), one thread.
void BM_SsmKernel(benchmark::State& state) {
    const ThreadScope threads(1);
    const std::int64_t n = state.range(0), L = state.range(1);
    const int method = static_cast<int>(state.range(2));
    Tensor A = Rng(3).normal({n, n}, DType::F64);
    for (std::int64_t i = 0; i < n * n; ++i) A.data<double>()[i] *= 0.5 / std::sqrt(double(n));
    Tensor diag = Rng(4).uniform({n}, DType::F64, -0.95, 0.95);
    const Tensor B = Rng(5).normal({n}, DType::F64), C = Rng(6).normal({n}, DType::F64);
    const Tensor P = Rng(7).normal({n}, DType::F64, 0.0, 0.05);
    const Tensor D({}, DType::F64);
    for (auto _ : state) {
        Tensor K;
        switch (method) {
            case 0:
                K = ssm_kernel(A, B, C, D, L, "recurrent");
                break;
            case 1:
                K = ssm_kernel(A, B, C, D, L, "doubling");
                break;
            case 2:
                K = ssm_kernel(diag, B, C, D, L, "diagonal");
                break;
            default:
                K = ssm_kernel_dplr(diag, P, P, B, C, D, L);
                break;
        }
        benchmark::DoNotOptimize(K.raw_data());
    }
}

BENCHMARK(BM_SsmKernel)
    ->Name("ssm_kernel")
    ->ArgsProduct({{16, 64}, {1024, 16384}, {0, 1, 2, 3}})
    ->ArgNames({"n", "L", "method"})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// args: parallel (0/1), threads. B = 1, L = 10⁶, D = 16, float32.
void BM_LinearScan(benchmark::State& state) {
    const ThreadScope threads(state.range(1));
    const Tensor a = Rng(8).uniform({1, 1000000, 16}, DType::F32, 0.5, 1.0);
    const Tensor b = Rng(9).normal({1, 1000000, 16}, DType::F32);
    const char* method = state.range(0) == 0 ? "sequential" : "parallel";
    for (auto _ : state) {
        Tensor h = linear_scan(a, b, Tensor(), method);
        benchmark::DoNotOptimize(h.raw_data());
    }
}

BENCHMARK(BM_LinearScan)
    ->Name("linear_scan")
    ->Args({0, 1})
    ->Args({1, 1})
    ->Args({1, 2})
    ->ArgNames({"parallel", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace structseq
