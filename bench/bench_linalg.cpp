// Linalg benchmarks: tridiagonal resolvent diagonal (ns per element), semiseparable matvec
// against dense GEMV, randomized SVD against the full LAPACK SVD.

#include "structseq/core/rng.h"
#include "structseq/core/threads.h"
#include "structseq/linalg/semiseparable.h"
#include "structseq/linalg/svd.h"
#include "structseq/linalg/tridiagonal.h"
#include "thread_scope.h"

#include <benchmark/benchmark.h>
#include <cblas.h>

#include <bit>

namespace structseq {
namespace {

Tensor normal_tensor(Shape shape, DType dtype, std::uint64_t seed) {
    Tensor t(std::move(shape), dtype);
    Rng(seed).normal(t);
    return t;
}

// Laplacian off-diagonals (-1) with a random potential on the main diagonal, z = i: the
// BK-Core workload. args: batch, N, threads, allocate (0: the kernel into a reused output,
// 1: the public function, which allocates its output every call).
template <DType dtype>
void BM_ResolventDiagonal(benchmark::State& state) {
    ThreadScope threads(state.range(2));
    const std::int64_t batch = state.range(0), n = state.range(1);
    const Tensor a = normal_tensor({batch, n}, dtype, 1);
    Tensor off({n - 1}, DType::F64);
    for (std::int64_t i = 0; i < n - 1; ++i) off.data<double>()[i] = -1.0;
    const Tensor b = off.to(dtype);
    if (state.range(3) == 0) {  // into a reused output: the kernel alone
        using Real = std::conditional_t<dtype == DType::F64, double, float>;
        TridiagonalRows<Real> rows{
            a.data<Real>(), b.data<Real>(), b.data<Real>(), n, 0, 0, batch, n};
        Tensor g({batch, n}, dtype == DType::F64 ? DType::C128 : DType::C64);
        for (auto _ : state) {
            tridiagonal_resolvent_diagonal_rows(rows, {0, 1}, g.data<std::complex<Real>>());
            benchmark::DoNotOptimize(g.raw_data());
        }
    } else {  // the public call, allocating its output
        for (auto _ : state) {
            Tensor g = tridiagonal_resolvent_diagonal(a, b, b, {0.0, 1.0});
            benchmark::DoNotOptimize(g.raw_data());
        }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * batch * n);
    state.counters["per_element"] = benchmark::Counter(
        static_cast<double>(batch * n),
        benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

BENCHMARK(BM_ResolventDiagonal<DType::F64>)
    ->Name("tridiagonal_resolvent_diagonal_f64")
    ->ArgsProduct({{1, 64}, {4096}, {1, 2}, {0, 1}})
    ->ArgNames({"batch", "n", "threads", "allocate"})
    ->UseRealTime();
BENCHMARK(BM_ResolventDiagonal<DType::F32>)
    ->Name("tridiagonal_resolvent_diagonal_f32")
    ->ArgsProduct({{64}, {4096}, {1}, {0, 1}})
    ->ArgNames({"batch", "n", "threads", "allocate"})
    ->UseRealTime();

// y = H x, float64, one vector, r = ⌈log₂ N⌉: the semiseparable form against a dense GEMV of
// the same matrix (dense only up to N = 2^14, 2 GiB). Bytes processed = the operator's storage.
// args: log₂ N, dense (0/1), threads.
void BM_SemiseparableMatvec(benchmark::State& state) {
    ThreadScope threads(state.range(2));
    const std::int64_t n = std::int64_t{1} << state.range(0);
    const std::int64_t r = std::bit_width(static_cast<std::uint64_t>(n - 1));
    const SemiseparableMatrix h(
        normal_tensor({n}, DType::F64, 1), normal_tensor({n - 1}, DType::F64, 2),
        normal_tensor({n - 1}, DType::F64, 3), normal_tensor({n, r}, DType::F64, 4),
        normal_tensor({n, r}, DType::F64, 5));
    const Tensor x = normal_tensor({n}, DType::F64, 6);
    if (state.range(1) == 1) {
        const Tensor dense = h.to_dense();
        Tensor y({n}, DType::F64);
        for (auto _ : state) {
            cblas_dgemv(CblasRowMajor, CblasNoTrans, n, n, 1.0, dense.data<double>(), n,
                        x.data<double>(), 1, 0.0, y.data<double>(), 1);
            benchmark::DoNotOptimize(y.raw_data());
        }
        state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * n * n * 8);
    } else {
        for (auto _ : state) {
            Tensor y = h.matvec(x);
            benchmark::DoNotOptimize(y.raw_data());
        }
        state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                                h.memory_usage().total_bytes);
    }
    state.counters["rank"] = static_cast<double>(r);
}

BENCHMARK(BM_SemiseparableMatvec)
    ->Name("semiseparable_matvec_f64")
    ->ArgsProduct({{8, 9, 10, 11, 12, 13, 14, 16, 18, 20}, {0}, {1}})
    ->ArgsProduct({{8, 9, 10, 11, 12, 13, 14}, {1}, {1}})
    ->ArgNames({"log2n", "dense", "threads"})
    ->UseRealTime();

// The KV-cache compression workload of seed 003: (heads, tokens, head_dim) = (8, 512, 128),
// float32. args: k (0 = full_svd), threads.
void BM_Svd(benchmark::State& state) {
    ThreadScope threads(state.range(1));
    const std::int64_t k = state.range(0);
    const Tensor M = normal_tensor({8, 512, 128}, DType::F32, 3);
    for (auto _ : state) {
        SvdResult r = k == 0 ? full_svd(M) : batched_randomized_svd(M, k, 2, 5, 0);
        benchmark::DoNotOptimize(r.S.raw_data());
    }
}

BENCHMARK(BM_Svd)
    ->Name("svd_8x512x128_f32")
    ->ArgsProduct({{0, 16, 32}, {1, 2}})
    ->ArgNames({"k", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace structseq
