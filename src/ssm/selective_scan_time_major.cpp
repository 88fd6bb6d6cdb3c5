#include "structseq/ssm/selective_scan_time_major.h"

#include "linalg/small_matrix.h"
#include "ssm/lane_exp.h"
#include "structseq/core/cpu_dispatch.h"
#include "structseq/core/error.h"
#include "structseq/core/threads.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>  // non-temporal stores (ChannelMajorStage)
#endif

namespace structseq {

namespace {

using namespace ssm_detail;

// One vector of channels: 16 float32 or 8 float64 lanes (64 bytes).
template <class Real>
constexpr int kLanes = 64 / static_cast<int>(sizeof(Real));
template <class Real>
using Vec = LaneVector<Real, kLanes<Real>>;

constexpr std::int64_t kCheckpointEvery = 64;

// Rows of a (M, cols) operand with unit column stride: row r starts at data + r · stride.
template <class Real>
struct Rows {
    const Real* data = nullptr;
    std::int64_t stride = 0;
    const Real* row(std::int64_t r) const { return data + r * stride; }
};

template <class Real>
struct Operands {
    std::int64_t batch = 0, L = 0, dim = 0, N = 0;
    Rows<Real> u, delta, z, B, C;  // z.data null when absent
    const Real* A = nullptr;       // (dim, N) contiguous
    const Real* D = nullptr;       // (dim) or null
    const Real* bias = nullptr;    // (dim) or null
    bool softplus = false, bilinear = false;
    std::int64_t blocks() const { return (dim + kLanes<Real> - 1) / kLanes<Real>; }
    std::int64_t chunks() const { return (L + kCheckpointEvery - 1) / kCheckpointEvery; }
    // Where sequence b's states before chunk c start for the block at c0, in (batch, chunks, N,
    // dim) checkpoints: N rows of the block's lanes, dim apart.
    std::int64_t checkpoint_at(std::int64_t b, std::int64_t c, std::int64_t c0) const {
        return ((b * chunks() + c) * N) * dim + c0;
    }
};

// A block's per-lane constants: A and A·log₂e (N vectors each, zero in missing lanes), the
// largest |A·log₂e| over n, D, bias.
template <class Real>
struct BlockConstants {
    LaneArray<Vec<Real>> A, A_log2e;
    Vec<Real> A_log2e_max = {}, D = {}, bias = {};
    BlockConstants() = default;
    BlockConstants(const Operands<Real>& op, std::int64_t c0, int count) { load(op, c0, count); }
    // Those of the `count` channels from c0 (reuses the arrays' memory).
    void load(const Operands<Real>& op, std::int64_t c0, int count) {
        A.assign(static_cast<std::size_t>(op.N), Vec<Real>{});
        A_log2e.assign(static_cast<std::size_t>(op.N), Vec<Real>{});
        A_log2e_max = D = bias = Vec<Real>{};
        for (int l = 0; l < count; ++l) {
            for (std::int64_t n = 0; n < op.N; ++n) {
                const Real a = op.A[(c0 + l) * op.N + n];
                A[n][l] = a;
                A_log2e[n][l] = static_cast<Real>(a * 1.4426950408889634);
                A_log2e_max[l] = std::max(A_log2e_max[l], std::abs(A_log2e[n][l]));
            }
            if (op.D != nullptr) D[l] = op.D[c0 + l];
            if (op.bias != nullptr) bias[l] = op.bias[c0 + l];
        }
    }
};

// The state size the kernels are compiled for as a constant (Mamba's d_state), so that a block's
// states live in registers; other sizes run the same code with N read at run time (kN = 0).
constexpr int kFixedN = 16;

// Whether |Δ · A log₂e| ≤ 125 in every lane for steps of magnitude at most `step_max` (false
// for NaN), so that ZOH's exps need no clamp.
template <class Real>
STRUCTSEQ_ALWAYS_INLINE bool exps_in_range(const BlockConstants<Real>& k, Vec<Real> step_max) {
    const auto within = step_max * k.A_log2e_max <= Real(125);
    for (int l = 0; l < kLanes<Real>; ++l) {
        if (!within[l]) return false;
    }
    return true;
}

// |Δ| accumulated into `step_max` (NaN sticks).
template <class Real>
STRUCTSEQ_ALWAYS_INLINE void track_step_max(Vec<Real>& step_max, Vec<Real> dt) {
    const Vec<Real> magnitude = dt < 0 ? -dt : dt;
    step_max = magnitude <= step_max ? step_max : magnitude;
}

// Rows b·L + [t0, t1) of a block that do not depend on the states: Δ (bias, softplus) into
// `steps`, dΔ/dδ into `slopes` when not null, σ(z) into `sigmoids` when z is given; returns the
// largest |Δ|. A loop of its own, apart from the recursion, so that the long chains of exps and
// divisions of consecutive rows overlap. `prefetch` (when not null) is an (M, dim) output whose
// rows to bring into the cache as well.
template <class Real>
STRUCTSEQ_ALWAYS_INLINE Vec<Real> prepare_rows(const Operands<Real>& op,
                                               const BlockConstants<Real>& k, std::int64_t b,
                                               std::int64_t c0, std::int64_t t0, std::int64_t t1,
                                               Vec<Real>* steps, Vec<Real>* slopes,
                                               Vec<Real>* sigmoids, const Real* prefetch) {
    const int count = static_cast<int>(std::min<std::int64_t>(kLanes<Real>, op.dim - c0));
    Vec<Real> step_max = {};
    for (std::int64_t t = t0; t < t1; ++t) {
        const std::int64_t row = b * op.L + t, i = t - t0;
        prefetch_step(op, b, t, 1, c0, {prefetch});
        const Vec<Real> raw = load_lanes_partial<Vec<Real>>(op.delta.row(row) + c0, count) + k.bias;
        if (!op.softplus) {
            steps[i] = raw;
            if (slopes != nullptr) slopes[i] = Vec<Real>{} + 1;
        } else if (slopes != nullptr) {
            steps[i] = lane_softplus(raw, slopes[i]);
        } else {
            steps[i] = lane_softplus(raw);
        }
        if (op.z.data != nullptr)
            sigmoids[i] = lane_sigmoid(load_lanes_partial<Vec<Real>>(op.z.row(row) + c0, count));
        track_step_max<Real>(step_max, steps[i]);
    }
    return step_max;
}

// What the backward keeps of a step (all null in the forward): per state n, Ā_n into a_bar[n],
// the term its adjoint needs into carried[n] (ZOH: Ā_n ⊙ x_n before the step, so that the
// adjoint skips a product; bilinear: x_n before the step), and dy ⊙ x_n after the step added
// into the chunk's dC lanes dC[n].
template <class Real>
struct StepRecord {
    Vec<Real>* a_bar = nullptr;
    Vec<Real>* carried = nullptr;
    Vec<Real>* dC = nullptr;
    Vec<Real> dy = {};
};

// One step of a block's states, x_n ← Ā_n ⊙ x_n + B̄u_n B_t[n] for n < N, returning
// Σ_n C_t[n] x_n; with Record, also what `record` asks for. ZOH's Ā = exp(Δ A) is formed as
// 2^(Δ · A log₂e), unclamped when the caller knows it InRange (exps_in_range).
template <class Real, bool Bilinear, int kN, bool InRange, bool Record>
STRUCTSEQ_ALWAYS_INLINE Vec<Real> advance(std::int64_t N, const BlockConstants<Real>& k,
                                          Vec<Real> dt, Vec<Real> u, const Real* Bt, const Real* Ct,
                                          Vec<Real>* x, const StepRecord<Real>& record) {
    const std::int64_t states = kN > 0 ? kN : N;
    const Vec<Real> dtu = dt * u;
    Vec<Real> y_even = {}, y_odd = {};  // two chains of FMAs, not one
#pragma GCC unroll 16
    for (std::int64_t n = 0; n < states; ++n) {
        Vec<Real> decay;
        if constexpr (Bilinear) {
            const Vec<Real> half = dt * k.A[n] * Real(0.5), inv = 1 / (1 - half);
            decay = (1 + half) * inv;
            if constexpr (Record) record.carried[n] = x[n];
            x[n] = decay * x[n] + (dtu * inv) * Bt[n];
        } else {
            const Vec<Real> t = dt * k.A_log2e[n];
            decay = InRange ? lane_exp2_in_range(t) : lane_exp2(t);
            const Vec<Real> decayed = decay * x[n];
            if constexpr (Record) record.carried[n] = decayed;
            x[n] = decayed + dtu * Bt[n];
        }
        (n % 2 == 0 ? y_even : y_odd) += Ct[n] * x[n];
        if constexpr (Record) {
            record.a_bar[n] = decay;
            record.dC[n] += record.dy * x[n];
        }
    }
    return y_even + y_odd;
}

// Rows `ahead` steps away (`step` = ±1) into the cache: consecutive steps of one block sit a
// whole row apart (dim values), too far for the hardware prefetcher, which stops at pages.
constexpr std::int64_t kPrefetchSteps = 8;
template <class Real>
STRUCTSEQ_ALWAYS_INLINE void prefetch_step(const Operands<Real>& op, std::int64_t b, std::int64_t t,
                                           std::int64_t step, std::int64_t c0,
                                           std::initializer_list<const Real*> extra_rows) {
    const std::int64_t ahead = t + step * kPrefetchSteps;
    if (ahead < 0 || ahead >= op.L) return;
    const std::int64_t row = b * op.L + ahead;
    __builtin_prefetch(op.u.row(row) + c0);
    __builtin_prefetch(op.delta.row(row) + c0);
    if (op.z.data != nullptr) __builtin_prefetch(op.z.row(row) + c0);
    for (const Real* p : extra_rows) {
        if (p != nullptr) __builtin_prefetch(p + row * op.dim + c0, 1);
    }
}

// (M, dim) rows, as op's rows, that a chunk writes (out in the forward; du, ddelta, dz in the
// backward) or reads (dout); null when the pass has none.
template <class Real>
struct RowStreams {
    Real* out = nullptr;
    const Real* dout = nullptr;
    Real *du = nullptr, *ddelta = nullptr, *dz = nullptr;
};

// The next chunk's stretches of the arrays a pass reads and writes (up to 4 each), brought into
// the level-2 cache a line per array and step of the current chunk, so that the loads overlap
// the computation (all at once, they would stall it on the cache's miss buffers). A stretch is
// `rows` rows of `lines` lines each: channels × steps of channel-major arrays, steps × one
// block of time-major rows.
template <class Real>
struct ChunkAhead {
    static constexpr std::int64_t kLine = 64 / sizeof(Real);
    struct Stretch {
        const Real* start;
        std::int64_t row_stride;  // elements from one row's start to the next's
    };
    Stretch read[4] = {}, written[4] = {};
    int reads = 0, writes = 0, rows = 0, lines = 0;
    // No stretches yet, each `row_count` rows of `line_count` lines.
    STRUCTSEQ_ALWAYS_INLINE void aim(std::int64_t row_count, std::int64_t line_count) {
        reads = writes = 0;
        rows = static_cast<int>(row_count);
        lines = static_cast<int>(line_count);
    }
    // The stretch of `array` from element `start`, its rows `row_stride` apart, read or written
    // (nothing when the array is absent, null).
    STRUCTSEQ_ALWAYS_INLINE void add_read(const Real* array, std::int64_t start,
                                          std::int64_t row_stride) {
        if (array != nullptr) read[reads++] = {array + start, row_stride};
    }
    STRUCTSEQ_ALWAYS_INLINE void add_written(const Real* array, std::int64_t start,
                                             std::int64_t row_stride) {
        if (array != nullptr) written[writes++] = {array + start, row_stride};
    }
    // Step i's share: line i of each stretch, row-major over (row, line).
    STRUCTSEQ_ALWAYS_INLINE void prefetch(std::int64_t i) const {
        if (i >= std::int64_t{rows} * lines) return;
        const std::int64_t row = i / lines, line = (i % lines) * kLine;
        for (int a = 0; a < reads; ++a)
            __builtin_prefetch(read[a].start + row * read[a].row_stride + line, 0, 2);
        for (int a = 0; a < writes; ++a)
            __builtin_prefetch(written[a].start + row * written[a].row_stride + line, 1, 2);
    }
};

// Steps [t0, t1) of sequence b for the block at c0 of `op`, and the rows it writes: what the
// chunk functions run on (a source's enter gives it); `ahead`, when not null, is what their
// steps prefetch.
template <class Real>
struct ChunkView {
    const Operands<Real>& op;
    std::int64_t b, c0, t0, t1;
    RowStreams<Real> rows;
    const ChunkAhead<Real>* ahead = nullptr;
};

// The chunk's steps from states x, given their Δ and σ(z), into v.rows.out.
template <class Real, bool Bilinear, int kN, bool InRange>
STRUCTSEQ_ALWAYS_INLINE void forward_chunk(const ChunkView<Real>& v, const BlockConstants<Real>& k,
                                           const Vec<Real>* steps, const Vec<Real>* sigmoids,
                                           Vec<Real>* x) {
    const Operands<Real>& op = v.op;
    const std::int64_t b = v.b, c0 = v.c0, t0 = v.t0, t1 = v.t1;
    Real* out = v.rows.out;
    const int count = static_cast<int>(std::min<std::int64_t>(kLanes<Real>, op.dim - c0));
    for (std::int64_t t = t0; t < t1; ++t) {
        if (v.ahead != nullptr) v.ahead->prefetch(t - t0);
        const std::int64_t row = b * op.L + t;
        const Vec<Real> u = load_lanes_partial<Vec<Real>>(op.u.row(row) + c0, count);
        Vec<Real> y = advance<Real, Bilinear, kN, InRange, false>(
            op.N, k, steps[t - t0], u, op.B.row(row), op.C.row(row), x, {});
        y += k.D * u;
        if (op.z.data != nullptr)
            y *= load_lanes_partial<Vec<Real>>(op.z.row(row) + c0, count) * sigmoids[t - t0];
        store_lanes_partial(out + row * op.dim + c0, y, count);
    }
}

// A pass's chunks read and written in place, for time-major rows.
template <class Real>
struct RowsInPlace {
    const Operands<Real>& op;
    RowStreams<Real> rows;
    ChunkAhead<Real> ahead = {};
    STRUCTSEQ_ALWAYS_INLINE ChunkView<Real> enter(std::int64_t b, std::int64_t c0, std::int64_t t0,
                                                  std::int64_t t1) {
        ahead.rows = 0;  // until expect says
        return {op, b, c0, t0, t1, rows, &ahead};
    }
    // The chunk the pass enters next, a line per row and array, for the current one's steps to
    // prefetch (ChunkAhead): prefetch_step's few steps ahead are too late for a chunk's first
    // rows, which prepare_rows reads at once.
    STRUCTSEQ_ALWAYS_INLINE void expect(std::int64_t b, std::int64_t c0, std::int64_t t0,
                                        std::int64_t t1) {
        const std::int64_t row = b * op.L + t0;
        ahead.aim(t1 - t0, 1);
        for (const Rows<Real>& array : {op.u, op.delta, op.z})
            ahead.add_read(array.data, row * array.stride + c0, array.stride);
        ahead.add_read(rows.dout, row * op.dim + c0, op.dim);
        for (Real* array : {rows.out, rows.du, rows.ddelta, rows.dz})
            ahead.add_written(array, row * op.dim + c0, op.dim);
    }
    STRUCTSEQ_ALWAYS_INLINE void leave() {}
};

// Channel-major arrays as selective_scan.h takes them, (batch, dim, L) contiguous, null when
// absent: u, Δ, z read, and the pass's streams (out; dout, du, ddelta, dz) in that layout.
template <class Real>
struct ChannelMajorArrays {
    const Real *u = nullptr, *delta = nullptr, *z = nullptr;
    RowStreams<Real> streams;
};

// to[0, n) = from[0, n) by non-temporal stores (16 bytes each, SSE2, which every x86-64 has),
// both 16-byte aligned, n · sizeof(Real) a multiple of 16; plain stores elsewhere.
template <class Real>
STRUCTSEQ_ALWAYS_INLINE void stream_out(const Real* from, std::int64_t n, Real* to) {
#if defined(__SSE2__)
    const auto* src = reinterpret_cast<const __m128i*>(from);
    auto* dst = reinterpret_cast<__m128i*>(to);
    for (std::int64_t i = 0; i < n * std::int64_t{sizeof(Real)} / 16; ++i) {
        _mm_stream_si128(dst + i, _mm_load_si128(src + i));
    }
#else
    std::copy_n(from, n, to);
#endif
}

// A pass's chunks of channel-major arrays: at enter, the chunk's inputs (count channels × up to
// 64 steps) transposed into rows of W lanes that stay in L1 (lanes past the block's channels
// zero), presented as a sequence of its own; at leave, its output rows transposed back. Where
// the chunk's output rows are whole aligned 64-byte lines (a full block, L and the steps
// multiples of a line), they go out by non-temporal stores: no line is read before it is
// overwritten, and none of the arrays, read again only by the caller, fills the cache.
template <class Real>
class ChannelMajorStage {
public:
    static constexpr int W = kLanes<Real>;
    static constexpr std::int64_t kSize = kCheckpointEvery * W;

    ChannelMajorStage(const Operands<Real>& op, const ChannelMajorArrays<Real>& arrays)
        : arrays_(arrays), L_(op.L), dim_(op.dim), chunk_(op), B_(op.B), C_(op.C) {
        chunk_.batch = 1;
        chunk_.dim = W;
        chunk_.u = {u_, W};
        chunk_.delta = {delta_, W};
        chunk_.z = {arrays.z != nullptr ? z_ : nullptr, W};
    }
    // Non-temporal stores are weakly ordered: fence them before the arrays are read elsewhere.
    ~ChannelMajorStage() {
#if defined(__SSE2__)
        _mm_sfence();
#endif
    }
    ChannelMajorStage(const ChannelMajorStage&) = delete;
    ChannelMajorStage& operator=(const ChannelMajorStage&) = delete;
    STRUCTSEQ_ALWAYS_INLINE ChunkView<Real> enter(std::int64_t b, std::int64_t c0, std::int64_t t0,
                                                  std::int64_t t1) {
        count_ = static_cast<int>(std::min<std::int64_t>(W, dim_ - c0));
        from_ = (b * dim_ + c0) * L_ + t0;
        ahead_.rows = 0;  // until expect says
        steps_ = t1 - t0;
        gather(arrays_.u, u_);
        gather(arrays_.delta, delta_);
        gather(arrays_.z, z_);
        gather(arrays_.streams.dout, dout_);
        chunk_.L = steps_;
        chunk_.B.data = B_.row(b * L_ + t0);
        chunk_.C.data = C_.row(b * L_ + t0);
        const RowStreams<Real>& streams = arrays_.streams;
        return {chunk_,
                0,
                0,
                0,
                steps_,
                {staged(streams.out, out_), staged(streams.dout, dout_), staged(streams.du, du_),
                 staged(streams.ddelta, ddelta_), staged(streams.dz, dz_)},
                &ahead_};
    }
    // The chunk the pass enters next, for the current one's steps to prefetch (ChunkAhead): its
    // rows sit a whole sequence apart, each a separate stream for the hardware prefetcher.
    STRUCTSEQ_ALWAYS_INLINE void expect(std::int64_t b, std::int64_t c0, std::int64_t t0,
                                        std::int64_t t1) {
        const std::int64_t from = (b * dim_ + c0) * L_ + t0;
        const RowStreams<Real>& streams = arrays_.streams;
        const std::int64_t count = std::min<std::int64_t>(W, dim_ - c0);
        ahead_.aim(count, (t1 - t0 + ChunkAhead<Real>::kLine - 1) / ChunkAhead<Real>::kLine);
        for (const Real* array : {arrays_.u, arrays_.delta, arrays_.z, streams.dout})
            ahead_.add_read(array, from, L_);
        for (Real* array : {streams.out, streams.du, streams.ddelta, streams.dz}) {
            if (!whole_lines(array, count, t1 - t0)) ahead_.add_written(array, from, L_);
        }
    }
    STRUCTSEQ_ALWAYS_INLINE void leave() {
        const RowStreams<Real>& streams = arrays_.streams;
        scatter(out_, streams.out);
        scatter(du_, streams.du);
        scatter(ddelta_, streams.ddelta);
        scatter(dz_, streams.dz);
    }

private:
    static Real* staged(const void* array, Real* buffer) {
        return array != nullptr ? buffer : nullptr;
    }
    // The chunk's (count, steps) of `array` → rows of `buffer`, the other lanes zero.
    STRUCTSEQ_ALWAYS_INLINE void gather(const Real* array, Real* buffer) const {
        if (array == nullptr) return;
        linalg_detail::transpose(array + from_, count_, steps_, L_, buffer, W);
        if (count_ == W) return;
        for (std::int64_t i = 0; i < steps_; ++i) {
            std::fill(buffer + i * W + count_, buffer + (i + 1) * W, Real(0));
        }
    }
    // Whether the chunk's (count, steps) of `array` are whole, aligned lines (to go out by
    // non-temporal stores).
    STRUCTSEQ_ALWAYS_INLINE bool whole_lines(const Real* array, std::int64_t count,
                                             std::int64_t steps) const {
        constexpr std::int64_t line = ChunkAhead<Real>::kLine;
        return array != nullptr && count == W && L_ % line == 0 && steps % line == 0 &&
               reinterpret_cast<std::uintptr_t>(array) % 64 == 0;
    }
    STRUCTSEQ_ALWAYS_INLINE void scatter(const Real* buffer, Real* array) {
        if (array == nullptr) return;
        if (!whole_lines(array, count_, steps_)) {
            linalg_detail::transpose(buffer, steps_, count_, W, array + from_, L_);
            return;
        }
        // Through u_'s buffer, whose chunk is done with (the next enter gathers it again).
        linalg_detail::transpose(buffer, steps_, W, W, u_, kCheckpointEvery);
        for (int c = 0; c < W; ++c) {
            stream_out(u_ + c * kCheckpointEvery, steps_, array + from_ + c * L_);
        }
    }

    const ChannelMajorArrays<Real>& arrays_;
    std::int64_t L_, dim_;
    Operands<Real> chunk_;               // op with the staged rows: L = the chunk's steps, dim = W
    Rows<Real> B_, C_;                   // the whole sequence's (M, N) rows
    std::int64_t from_ = 0, steps_ = 0;  // the chunk's first element in the arrays, its steps
    int count_ = 0;                      // the block's channels
    ChunkAhead<Real> ahead_;
    alignas(64) Real u_[kSize], delta_[kSize], z_[kSize], dout_[kSize];
    alignas(64) Real out_[kSize], du_[kSize], ddelta_[kSize], dz_[kSize];
};

// Sequence b, channels [c0, c0 + count), chunk by chunk as `source` presents them (RowsInPlace
// or ChannelMajorStage); the states before steps 0, 64, … into `checkpoints` (batch, chunks, N,
// dim) when not null. The states sit in registers when N is the compile-time kN (and on the
// heap when kN = 0). Each 64-step chunk first forms its steps Δ and σ(z) (prepare_rows), which
// do not depend on the states, and learns whether its exps may skip the clamp.
template <class Real, bool Bilinear, int kN, class Source>
STRUCTSEQ_ALWAYS_INLINE void forward_block(const Operands<Real>& op, std::int64_t b,
                                           std::int64_t c0, Source& source, Real* checkpoints) {
    const int count = static_cast<int>(std::min<std::int64_t>(kLanes<Real>, op.dim - c0));
    const std::int64_t N = kN > 0 ? kN : op.N;
    const BlockConstants<Real> k(op, c0, count);
    Vec<Real> x_fixed[kN > 0 ? kN : 1] = {};
    LaneArray<Vec<Real>> x_dynamic(static_cast<std::size_t>(kN > 0 ? 0 : N), Vec<Real>{});
    Vec<Real>* x = kN > 0 ? x_fixed : x_dynamic.data();  // the states, zero
    Vec<Real> steps[kCheckpointEvery], sigmoids[kCheckpointEvery];
    for (std::int64_t t0 = 0; t0 < op.L; t0 += kCheckpointEvery) {
        const std::int64_t t1 = std::min(op.L, t0 + kCheckpointEvery);
        if (checkpoints != nullptr) {
            Real* at = checkpoints + op.checkpoint_at(b, t0 / kCheckpointEvery, c0);
#pragma GCC unroll 16
            for (std::int64_t n = 0; n < N; ++n) store_lanes_partial(at + n * op.dim, x[n], count);
        }
        const ChunkView<Real> v = source.enter(b, c0, t0, t1);
        if (t1 < op.L) source.expect(b, c0, t1, std::min(op.L, t1 + kCheckpointEvery));
        const Vec<Real> step_max =
            prepare_rows(v.op, k, v.b, v.c0, v.t0, v.t1, steps, nullptr, sigmoids, v.rows.out);
        if (!Bilinear && exps_in_range(k, step_max)) {
            forward_chunk<Real, Bilinear, kN, true>(v, k, steps, sigmoids, x);
        } else {
            forward_chunk<Real, Bilinear, kN, false>(v, k, steps, sigmoids, x);
        }
        source.leave();
    }
}

template <class Real, bool Bilinear, class Source>
STRUCTSEQ_ALWAYS_INLINE void forward_block_any_n(const Operands<Real>& op, std::int64_t b,
                                                 std::int64_t c0, Source& source,
                                                 Real* checkpoints) {
    if (op.N == kFixedN) {
        forward_block<Real, Bilinear, kFixedN>(op, b, c0, source, checkpoints);
    } else {
        forward_block<Real, Bilinear, 0>(op, b, c0, source, checkpoints);
    }
}

// The block at c0 of sequence b, by ZOH or bilinear as op says, chunks from `source`.
template <class Real, class Source>
STRUCTSEQ_ALWAYS_INLINE void forward_block_of(const Operands<Real>& op, std::int64_t b,
                                              std::int64_t c0, Source& source, Real* checkpoints) {
    if (op.bilinear) {
        forward_block_any_n<Real, true>(op, b, c0, source, checkpoints);
    } else {
        forward_block_any_n<Real, false>(op, b, c0, source, checkpoints);
    }
}

// Task (sequence b, block of channels): its forward on time-major rows (op's u, Δ, z; out
// (M, dim)) or, with `arrays`, on channel-major ones; checkpoints as forward_block.
template <class Real>
STRUCTSEQ_ALWAYS_INLINE void forward_task(const Operands<Real>& op, std::int64_t task, Real* out,
                                          const ChannelMajorArrays<Real>* arrays,
                                          Real* checkpoints) {
    const std::int64_t b = task / op.blocks(), c0 = (task % op.blocks()) * kLanes<Real>;
    if (arrays != nullptr) {
        ChannelMajorStage<Real> stage(op, *arrays);
        forward_block_of(op, b, c0, stage, checkpoints);
    } else {
        RowsInPlace<Real> rows{op, {out}};
        forward_block_of(op, b, c0, rows, checkpoints);
    }
}

STRUCTSEQ_CPU_CLONES
void forward_task_f32(const Operands<float>& op, std::int64_t task, float* out,
                      const ChannelMajorArrays<float>* arrays, float* checkpoints) {
    forward_task(op, task, out, arrays, checkpoints);
}
STRUCTSEQ_CPU_CLONES
void forward_task_f64(const Operands<double>& op, std::int64_t task, double* out,
                      const ChannelMajorArrays<double>* arrays, double* checkpoints) {
    forward_task(op, task, out, arrays, checkpoints);
}

// Where the backward writes the gradients of the parameters (those of u, Δ, z go to the chunk's
// rows): dA, dD and dbias per sequence ((batch, dim, N), (batch, dim)); dB and dC summed over
// each group of blocks ((batch, groups, L, N)), to be summed over the groups in order.
template <class Real>
struct Gradients {
    Real *dA, *dD, *dbias;
    Real *dB_groups, *dC_groups;
    std::int64_t groups;
};

// A block's constants and the adjoint state it carries from chunk to chunk.
template <class Real>
struct BlockAdjoint {
    BlockConstants<Real> k;
    LaneArray<Vec<Real>> adjoint, dA;  // N each
    Vec<Real> dD = {}, dbias = {};
    // The block at c0 of `count` channels, before its last chunk (reuses the arrays' memory).
    void start(const Operands<Real>& op, std::int64_t c0, int count) {
        k.load(op, c0, count);
        adjoint.assign(static_cast<std::size_t>(op.N), Vec<Real>{});
        dA.assign(static_cast<std::size_t>(op.N), Vec<Real>{});
        dD = dbias = Vec<Real>{};
    }
};

// Per-thread scratch: one block's chunk (its entering state; per step and state Ā and the
// carried term of StepRecord; per step Δ, dΔ/dδ, σ(z) and the gated output gradient dy) and the
// chunk's dB, dC contributions lane by lane, (64, N, lanes), shared by a group's blocks.
template <class Real>
struct BackwardScratch {
    LaneArray<Vec<Real>> entering, x, a_bar, carried, steps, slopes, sigmoids, dy;
    LaneArray<Vec<Real>> dB_lanes, dC_lanes;  // typed, so that their stores alias no pointer
    std::vector<BlockAdjoint<Real>, LaneAllocator<BlockAdjoint<Real>>> blocks;  // a task's
};

// The chunk's states again from its entering state, keeping each step's StepRecord, with the
// gradient terms that need no adjoint: dy = dout · z σ(z) (dout without z), dC, dD and
// dz = dout · (C·x + D u) · σ(z) (1 + z (1 − σ(z))).
template <class Real, bool Bilinear, int kN, bool InRange>
STRUCTSEQ_ALWAYS_INLINE void recompute_chunk(const ChunkView<Real>& v, BlockAdjoint<Real>& st,
                                             BackwardScratch<Real>& s) {
    constexpr int W = kLanes<Real>;
    const Operands<Real>& op = v.op;
    const std::int64_t b = v.b, c0 = v.c0, t0 = v.t0, t1 = v.t1;
    const Real* dout = v.rows.dout;
    Real* dz = v.rows.dz;
    const std::int64_t N = kN > 0 ? kN : op.N;
    const int count = static_cast<int>(std::min<std::int64_t>(W, op.dim - c0));
    const BlockConstants<Real>& k = st.k;
    Vec<Real> x_fixed[kN > 0 ? kN : 1];
    Vec<Real>* x = kN > 0 ? x_fixed : s.x.data();
#pragma GCC unroll 16
    for (std::int64_t n = 0; n < N; ++n) x[n] = s.entering[n];
    for (std::int64_t t = t0; t < t1; ++t) {
        const std::int64_t row = b * op.L + t, i = t - t0, at = row * op.dim + c0;
        prefetch_step(op, b, t, 1, c0, {dout, dz});
        if (v.ahead != nullptr) v.ahead->prefetch(i);
        const Vec<Real> u = load_lanes_partial<Vec<Real>>(op.u.row(row) + c0, count);
        const Vec<Real> dout_t = load_lanes_partial<Vec<Real>>(dout + at, count);
        Vec<Real> z = {}, dy = dout_t;
        if (op.z.data != nullptr) {
            z = load_lanes_partial<Vec<Real>>(op.z.row(row) + c0, count);
            dy *= z * s.sigmoids[i];
        }
        const StepRecord<Real> record{s.a_bar.data() + i * N, s.carried.data() + i * N,
                                      s.dC_lanes.data() + i * N, dy};
        const Vec<Real> y = advance<Real, Bilinear, kN, InRange, true>(
            N, k, s.steps[i], u, op.B.row(row), op.C.row(row), x, record);
        if (op.z.data != nullptr) {
            const Vec<Real> sg = s.sigmoids[i];
            store_lanes_partial(dz + at, dout_t * (y + k.D * u) * sg * (1 + z * (1 - sg)), count);
        }
        st.dD += dy * u;
        s.dy[i] = dy;
    }
}

// The adjoint recursion of selective_scan.h backwards over the chunk, from the block's adjoint
// state g (∂loss/∂x) and into its dA (both kept in registers for the chunk when N is the
// compile-time kN); du and ddelta at the chunk's rows, dB lanes into the scratch. ZOH, with
// h_n = g_n Ā_n x_n (the carried term):
//   dA_n += Δ h_n,   dΔ = Σ_n A_n h_n + u Σ_n g_n B_n,   du = D dy + Δ Σ_n g_n B_n,
//   dB_n += g_n Δ u,   g_n ← Ā_n g_n (after g_n += dy C_n).
template <class Real, bool Bilinear, int kN>
STRUCTSEQ_ALWAYS_INLINE void adjoint_chunk(const ChunkView<Real>& v, BlockAdjoint<Real>& st,
                                           BackwardScratch<Real>& s) {
    using V = Vec<Real>;
    const Operands<Real>& op = v.op;
    const std::int64_t b = v.b, c0 = v.c0, t0 = v.t0, t1 = v.t1;
    constexpr int W = kLanes<Real>;
    const std::int64_t N = kN > 0 ? kN : op.N, dim = op.dim;
    const int count = static_cast<int>(std::min<std::int64_t>(W, dim - c0));
    const V* A = st.k.A.data();
    V adjoint_fixed[kN > 0 ? kN : 1], dA_fixed[kN > 0 ? kN : 1];
    V* adjoint = kN > 0 ? adjoint_fixed : st.adjoint.data();
    V* dA = kN > 0 ? dA_fixed : st.dA.data();
    if constexpr (kN > 0) {
#pragma GCC unroll 16
        for (std::int64_t n = 0; n < N; ++n) {
            adjoint[n] = st.adjoint[n];
            dA[n] = st.dA[n];
        }
    }
    for (std::int64_t t = t1 - 1; t >= t0; --t) {
        const std::int64_t row = b * op.L + t, i = t - t0, at = row * dim + c0;
        prefetch_step(op, b, t, -1, c0, {v.rows.du, v.rows.ddelta});
        const V u = load_lanes_partial<Vec<Real>>(op.u.row(row) + c0, count), dt = s.steps[i],
                dy = s.dy[i];
        const V dtu = dt * u;
        V du = dy * st.k.D, ddt = {}, gB = {};
        const V* carried = s.carried.data() + i * N;
        const V* a_bar = s.a_bar.data() + i * N;
        const Real* Bt = op.B.row(row);
        const Real* Ct = op.C.row(row);
        V* dBt = s.dB_lanes.data() + i * N;
#pragma GCC unroll 16
        for (std::int64_t n = 0; n < N; ++n) {
            const V g = adjoint[n] + dy * Ct[n];
            if constexpr (Bilinear) {
                const V xp = carried[n];
                const V inv = 1 / (1 - dt * A[n] * Real(0.5)), inv2 = inv * inv;
                ddt += g * inv2 * (A[n] * xp + Bt[n] * u);
                dA[n] += g * dt * inv2 * (xp + dt * Bt[n] * u * Real(0.5));
                const V g_gain = g * dt * inv;  // ∂B̄u/∂(B u) = Δ / (1 − Δ A / 2)
                dBt[n] += g_gain * u;
                du += g_gain * Bt[n];
            } else {
                const V h = g * carried[n];
                dA[n] += dt * h;
                ddt += A[n] * h;
                gB += g * Bt[n];
                dBt[n] += g * dtu;
            }
            adjoint[n] = g * a_bar[n];
        }
        if constexpr (!Bilinear) {
            ddt += u * gB;
            du += dt * gB;
        }
        const V ddelta = ddt * s.slopes[i];
        st.dbias += ddelta;
        store_lanes_partial(v.rows.du + at, du, count);
        store_lanes_partial(v.rows.ddelta + at, ddelta, count);
    }
    if constexpr (kN > 0) {
#pragma GCC unroll 16
        for (std::int64_t n = 0; n < N; ++n) {
            st.adjoint[n] = adjoint[n];
            st.dA[n] = dA[n];
        }
    }
}

// A block's chunk, from its entering state in s.entering: the steps, slopes and gates of its
// rows (which do not depend on the states, so they run at throughput), its states again, then
// the adjoint recursion backwards over it.
template <class Real, bool Bilinear, int kN>
STRUCTSEQ_ALWAYS_INLINE void backward_chunk(const ChunkView<Real>& v, BlockAdjoint<Real>& st,
                                            BackwardScratch<Real>& s) {
    const Vec<Real> step_max = prepare_rows<Real>(v.op, st.k, v.b, v.c0, v.t0, v.t1, s.steps.data(),
                                                  s.slopes.data(), s.sigmoids.data(), nullptr);
    if (!Bilinear && exps_in_range(st.k, step_max)) {
        recompute_chunk<Real, Bilinear, kN, true>(v, st, s);
    } else {
        recompute_chunk<Real, Bilinear, kN, false>(v, st, s);
    }
    adjoint_chunk<Real, Bilinear, kN>(v, st, s);
}

// Task (sequence b, group of blocks): chunk by chunk from the last, every block of the group
// over the chunk, so the chunk's dB and dC lanes (64 × N × lanes) stay in cache and are summed
// over the lanes once per chunk; chunks as `source` presents them (RowsInPlace or
// ChannelMajorStage), each block's from the checkpoint before it.
template <class Real, bool Bilinear, class Source>
STRUCTSEQ_ALWAYS_INLINE void backward_group(const Operands<Real>& op, std::int64_t task,
                                            Source& source, const Real* checkpoints,
                                            const Gradients<Real>& out, BackwardScratch<Real>& s) {
    constexpr int W = kLanes<Real>;
    const std::int64_t N = op.N, L = op.L, dim = op.dim, groups = out.groups;
    const std::int64_t b = task / groups, g = task % groups;
    const std::int64_t per_group = (op.blocks() + groups - 1) / groups;
    const std::int64_t first = g * per_group, last = std::min(op.blocks(), first + per_group);
    const auto size = [](LaneArray<Vec<Real>>& v, std::int64_t n) {
        v.assign(static_cast<std::size_t>(n), Vec<Real>{});
    };
    size(s.entering, N);
    size(s.x, N);
    size(s.a_bar, kCheckpointEvery * N);
    size(s.carried, kCheckpointEvery * N);
    size(s.steps, kCheckpointEvery);
    size(s.slopes, kCheckpointEvery);
    size(s.sigmoids, kCheckpointEvery);
    size(s.dy, kCheckpointEvery);
    if (s.blocks.size() < static_cast<std::size_t>(last - first)) {
        s.blocks.resize(static_cast<std::size_t>(last - first));
    }
    for (std::int64_t k = first; k < last; ++k) {
        const std::int64_t c0 = k * W;
        s.blocks[static_cast<std::size_t>(k - first)].start(
            op, c0, static_cast<int>(std::min<std::int64_t>(W, dim - c0)));
    }
    Real* dB_rows = out.dB_groups + (b * groups + g) * L * N;
    Real* dC_rows = out.dC_groups + (b * groups + g) * L * N;
    for (std::int64_t c = op.chunks() - 1; c >= 0; --c) {
        const std::int64_t t0 = c * kCheckpointEvery,
                           rows = std::min(L, t0 + kCheckpointEvery) - t0;
        size(s.dB_lanes, rows * N);
        size(s.dC_lanes, rows * N);
        for (std::int64_t k = first; k < last; ++k) {
            BlockAdjoint<Real>& block = s.blocks[static_cast<std::size_t>(k - first)];
            const std::int64_t c0 = k * W;
            const int count = static_cast<int>(std::min<std::int64_t>(W, dim - c0));
            const Real* entering = checkpoints + op.checkpoint_at(b, c, c0);
            for (std::int64_t n = 0; n < N; ++n)
                s.entering[n] = load_lanes_partial<Vec<Real>>(entering + n * dim, count);
            const ChunkView<Real> v = source.enter(b, c0, t0, t0 + rows);
            // The next block's chunk, and its entering state (N lines a row of dim apart).
            const Real* next_entering = nullptr;
            if (k + 1 < last) {
                source.expect(b, c0 + W, t0, t0 + rows);
                next_entering = checkpoints + op.checkpoint_at(b, c, c0 + W);
            } else if (c > 0) {
                source.expect(b, first * W, t0 - kCheckpointEvery, t0);
                next_entering = checkpoints + op.checkpoint_at(b, c - 1, first * W);
            }
            for (std::int64_t n = 0; next_entering != nullptr && n < N; ++n)
                __builtin_prefetch(next_entering + n * dim);
            if (N == kFixedN) {
                backward_chunk<Real, Bilinear, kFixedN>(v, block, s);
            } else {
                backward_chunk<Real, Bilinear, 0>(v, block, s);
            }
            source.leave();
        }
        for (std::int64_t i = 0; i < rows * N; ++i) {
            Real sum_b = 0, sum_c = 0;
            for (int l = 0; l < W; ++l) {
                sum_b += s.dB_lanes[static_cast<std::size_t>(i)][l];
                sum_c += s.dC_lanes[static_cast<std::size_t>(i)][l];
            }
            dB_rows[t0 * N + i] = sum_b;
            dC_rows[t0 * N + i] = sum_c;
        }
    }
    for (std::int64_t k = first; k < last; ++k) {
        const BlockAdjoint<Real>& st = s.blocks[static_cast<std::size_t>(k - first)];
        for (int l = 0; l < std::min<std::int64_t>(W, dim - k * W); ++l) {
            const std::int64_t d = k * W + l;
            for (std::int64_t n = 0; n < N; ++n) out.dA[(b * dim + d) * N + n] = st.dA[n][l];
            out.dD[b * dim + d] = st.dD[l];
            out.dbias[b * dim + d] = st.dbias[l];
        }
    }
}

template <class Real, class Source>
STRUCTSEQ_ALWAYS_INLINE void backward_task_from(const Operands<Real>& op, std::int64_t task,
                                                Source& source, const Real* checkpoints,
                                                const Gradients<Real>& out,
                                                BackwardScratch<Real>& s) {
    if (op.bilinear) {
        backward_group<Real, true>(op, task, source, checkpoints, out, s);
    } else {
        backward_group<Real, false>(op, task, source, checkpoints, out, s);
    }
}

// Task (sequence, group of blocks) of the backward on time-major rows (op's u, Δ, z; `rows`' dout,
// du, ddelta, dz) or, with `arrays`, on channel-major ones.
template <class Real>
STRUCTSEQ_ALWAYS_INLINE void backward_task(const Operands<Real>& op, std::int64_t task,
                                           const RowStreams<Real>& rows,
                                           const ChannelMajorArrays<Real>* arrays,
                                           const Real* checkpoints, const Gradients<Real>& out,
                                           BackwardScratch<Real>& s) {
    if (arrays != nullptr) {
        ChannelMajorStage<Real> stage(op, *arrays);
        backward_task_from(op, task, stage, checkpoints, out, s);
    } else {
        RowsInPlace<Real> in_place{op, rows};
        backward_task_from(op, task, in_place, checkpoints, out, s);
    }
}

STRUCTSEQ_CPU_CLONES
void backward_task_f32(const Operands<float>& op, std::int64_t task, const RowStreams<float>& rows,
                       const ChannelMajorArrays<float>* arrays, const float* checkpoints,
                       const Gradients<float>& out, BackwardScratch<float>& s) {
    backward_task(op, task, rows, arrays, checkpoints, out, s);
}
STRUCTSEQ_CPU_CLONES
void backward_task_f64(const Operands<double>& op, std::int64_t task,
                       const RowStreams<double>& rows, const ChannelMajorArrays<double>* arrays,
                       const double* checkpoints, const Gradients<double>& out,
                       BackwardScratch<double>& s) {
    backward_task(op, task, rows, arrays, checkpoints, out, s);
}

void forward_task_any(const Operands<float>& op, std::int64_t task, float* out,
                      const ChannelMajorArrays<float>* arrays, float* checkpoints) {
    forward_task_f32(op, task, out, arrays, checkpoints);
}
void forward_task_any(const Operands<double>& op, std::int64_t task, double* out,
                      const ChannelMajorArrays<double>* arrays, double* checkpoints) {
    forward_task_f64(op, task, out, arrays, checkpoints);
}
void backward_task_any(const Operands<float>& op, std::int64_t task, const RowStreams<float>& rows,
                       const ChannelMajorArrays<float>* arrays, const float* checkpoints,
                       const Gradients<float>& out, BackwardScratch<float>& s) {
    backward_task_f32(op, task, rows, arrays, checkpoints, out, s);
}
void backward_task_any(const Operands<double>& op, std::int64_t task,
                       const RowStreams<double>& rows, const ChannelMajorArrays<double>* arrays,
                       const double* checkpoints, const Gradients<double>& out,
                       BackwardScratch<double>& s) {
    backward_task_f64(op, task, rows, arrays, checkpoints, out, s);
}

template <class Real>
Rows<Real> rows_of(std::string_view where, const char* name, const Tensor& t, std::int64_t M,
                   std::int64_t cols) {
    check_shape(where, name, t, {M, cols});
    check_argument(t.dtype() == dtype_of<Real>(), where, std::string(name) + " dtype",
                   std::string(dtype_name(t.dtype())),
                   std::string(dtype_name(dtype_of<Real>())) + " (as u)");
    check_argument(t.strides()[1] == 1, where, name,
                   "column stride " + std::to_string(t.strides()[1]), "unit column stride");
    return {static_cast<const Real*>(t.raw_data()), t.strides()[0]};
}

// An optional operand of `shape` (D, delta_bias; channel-major u, delta, z) as contiguous Real,
// kept in `keep`; null when absent.
template <class Real>
const Real* contiguous_of(std::string_view where, const char* name, const Tensor& t,
                          const Shape& shape, std::vector<Tensor>& keep) {
    if (!t.defined()) return nullptr;
    check_shape(where, name, t, shape);
    check_argument(t.dtype() == dtype_of<Real>(), where, std::string(name) + " dtype",
                   std::string(dtype_name(t.dtype())),
                   std::string(dtype_name(dtype_of<Real>())) + " (as u)");
    keep.push_back(t.contiguous());
    return keep.back().data<Real>();
}

// The operands checked; u, delta, z as (M, dim) rows, or with `channel_major` as (batch, dim, L)
// arrays that the caller reads (their Rows left empty).
template <class Real>
Operands<Real> operands_of(std::string_view where, const TimeMajorScanInputs& in,
                           std::vector<Tensor>& keep, bool channel_major = false) {
    const Tensor& u = in.u;
    const Tensor& A = in.A;
    const std::int64_t batch = in.batch;
    check_argument(in.discretization == "zoh" || in.discretization == "bilinear", where,
                   "discretization", fmt::format("\"{}\"", in.discretization),
                   "\"zoh\" or \"bilinear\"");
    if (channel_major) {
        check_argument(u.rank() == 3 && batch >= 1 && u.dim(0) == batch && u.dim(2) > 0, where, "u",
                       fmt::format("shape {} with batch {}", shape_string(u.shape()), batch),
                       "(batch, dim, L), L ≥ 1");
    } else {
        check_argument(u.rank() == 2 && batch >= 1 && u.dim(0) % batch == 0 && u.dim(0) > 0, where,
                       "u", fmt::format("shape {} with batch {}", shape_string(u.shape()), batch),
                       "(batch · L, dim), L ≥ 1");
    }
    const std::int64_t dim = u.dim(1);
    check_argument(A.defined() && A.rank() == 2 && A.dim(0) == dim, where, "A",
                   A.defined() ? "shape " + shape_string(A.shape()) : "undefined",
                   fmt::format("({}, N)", dim));
    Operands<Real> op;
    op.batch = batch;
    op.L = channel_major ? u.dim(2) : u.dim(0) / batch;
    op.dim = dim;
    op.N = A.dim(1);
    const std::int64_t M = batch * op.L;
    if (!channel_major) {
        op.u = rows_of<Real>(where, "u", u, M, op.dim);
        op.delta = rows_of<Real>(where, "delta", in.delta, M, op.dim);
        if (in.z.defined()) op.z = rows_of<Real>(where, "z", in.z, M, op.dim);
    }
    op.B = rows_of<Real>(where, "B", in.B, M, op.N);
    op.C = rows_of<Real>(where, "C", in.C, M, op.N);
    check_argument(A.dtype() == dtype_of<Real>(), where, "A dtype",
                   std::string(dtype_name(A.dtype())),
                   std::string(dtype_name(dtype_of<Real>())) + " (as u)");
    keep.push_back(A.contiguous());
    op.A = keep.back().data<Real>();
    op.D = contiguous_of<Real>(where, "D", in.D, {op.dim}, keep);
    op.bias = contiguous_of<Real>(where, "delta_bias", in.delta_bias, {op.dim}, keep);
    op.softplus = in.delta_softplus;
    op.bilinear = in.discretization == "bilinear";
    return op;
}

void check_real_dtype(std::string_view where, const Tensor& u) {
    check_argument(u.defined() && (u.dtype() == DType::F32 || u.dtype() == DType::F64), where,
                   "u dtype", u.defined() ? std::string(dtype_name(u.dtype())) : "undefined",
                   "float32 or float64");
}

// The layout of a call's u, Δ, z, out, dout, du, ddelta, dz: (M, dim) rows or (batch, dim, L).
enum class Layout { kRows, kChannelMajor };

std::string_view forward_name(Layout layout) {
    return layout == Layout::kRows ? "selective_scan_time_major" : "selective_scan_channel_major";
}

// The shape of u (and of out, z, dout, du, ddelta, dz) in `layout`.
template <class Real>
Shape operand_shape(const Operands<Real>& op, Layout layout) {
    return layout == Layout::kRows ? Shape{op.batch * op.L, op.dim} : Shape{op.batch, op.dim, op.L};
}

// The channel-major arrays of `in` (u, Δ, z: contiguous copies kept in `keep` where needed) and
// the pass's `streams`.
template <class Real>
ChannelMajorArrays<Real> channel_major_arrays(std::string_view where, const Operands<Real>& op,
                                              const TimeMajorScanInputs& in,
                                              const RowStreams<Real>& streams,
                                              std::vector<Tensor>& keep) {
    const Shape shape = operand_shape(op, Layout::kChannelMajor);
    check_argument(in.delta.defined(), where, "delta", "undefined", shape_string(shape));
    ChannelMajorArrays<Real> arrays;
    arrays.u = contiguous_of<Real>(where, "u", in.u, shape, keep);
    arrays.delta = contiguous_of<Real>(where, "delta", in.delta, shape, keep);
    arrays.z = contiguous_of<Real>(where, "z", in.z, shape, keep);
    arrays.streams = streams;
    return arrays;
}

template <class Real>
TimeMajorScanResult forward(const TimeMajorScanInputs& in, bool keep_checkpoints, Layout layout) {
    const std::string_view where = forward_name(layout);
    std::vector<Tensor> keep;
    const Operands<Real> op = operands_of<Real>(where, in, keep, layout == Layout::kChannelMajor);
    TimeMajorScanResult result;
    result.out = Tensor::empty(operand_shape(op, layout), dtype_of<Real>());
    if (keep_checkpoints) {
        result.checkpoints = Tensor::empty({op.batch, op.chunks(), op.N, op.dim}, dtype_of<Real>());
    }
    Real* po = result.out.data<Real>();
    Real* pc = keep_checkpoints ? result.checkpoints.data<Real>() : nullptr;
    ChannelMajorArrays<Real> arrays;
    if (layout == Layout::kChannelMajor)
        arrays = channel_major_arrays<Real>(where, op, in, {po}, keep);
    const ChannelMajorArrays<Real>* staged = layout == Layout::kChannelMajor ? &arrays : nullptr;
    const std::int64_t tasks = op.batch * op.blocks();
#pragma omp parallel for num_threads(num_threads()) \
    schedule(static) if (tasks > 1 && op.batch * op.L * op.dim * op.N > 20000)
    for (std::int64_t task = 0; task < tasks; ++task) forward_task_any(op, task, po, staged, pc);
    return result;
}

template <class Real>
SelectiveScanGradients backward(const TimeMajorScanInputs& in, const Tensor& dout_in,
                                const Tensor& checkpoints_in, Layout layout) {
    const std::string where = std::string(forward_name(layout)) + "_backward";
    std::vector<Tensor> keep;
    const Operands<Real> op = operands_of<Real>(where, in, keep, layout == Layout::kChannelMajor);
    const std::int64_t batch = op.batch;
    const std::int64_t M = batch * op.L, dim = op.dim, N = op.N;
    const Shape shape = operand_shape(op, layout);
    check_shape(where, "dout", dout_in, shape);
    const Tensor dout = dout_in.to(dtype_of<Real>()).contiguous();
    const DType dtype = dtype_of<Real>();
    Tensor du = Tensor::empty(shape, dtype), ddelta = Tensor::empty(shape, dtype);
    Tensor checkpoints;
    if (checkpoints_in.defined()) {
        check_shape(where, "checkpoints", checkpoints_in, {batch, op.chunks(), N, dim});
        checkpoints = checkpoints_in.to(dtype).contiguous();
    } else {  // the states every 64 steps, from a forward pass
        checkpoints = forward<Real>(in, true, layout).checkpoints;
    }
    Tensor dz = in.z.defined() ? Tensor::empty(shape, dtype) : Tensor();
    const RowStreams<Real> rows{nullptr, dout.data<Real>(), du.data<Real>(), ddelta.data<Real>(),
                                in.z.defined() ? dz.data<Real>() : nullptr};
    ChannelMajorArrays<Real> arrays;
    if (layout == Layout::kChannelMajor) arrays = channel_major_arrays(where, op, in, rows, keep);
    const ChannelMajorArrays<Real>* staged = layout == Layout::kChannelMajor ? &arrays : nullptr;
    Tensor dA_seq = Tensor::empty({batch, dim, N}, dtype);
    Tensor dD_seq = Tensor::empty({batch, dim}, dtype),
           dbias_seq = Tensor::empty({batch, dim}, dtype);
    // Threads split the sequences, and a sequence's blocks into groups when there are fewer
    // sequences than threads.
    const bool parallel = M * dim * N > 20000;
    const std::int64_t threads = parallel ? num_threads() : 1;
    const std::int64_t groups = std::clamp<std::int64_t>(threads / batch, 1, op.blocks());
    const Tensor dB_groups = Tensor::empty({batch, groups, op.L, N}, dtype);
    const Tensor dC_groups = Tensor::empty({batch, groups, op.L, N}, dtype);
    const Gradients<Real> grads{dA_seq.data<Real>(),    dD_seq.data<Real>(),
                                dbias_seq.data<Real>(), dB_groups.data<Real>(),
                                dC_groups.data<Real>(), groups};
    const std::int64_t tasks = batch * groups;
#pragma omp parallel num_threads(static_cast <int>(threads)) if (parallel && tasks > 1)
    {
        // Kept by each thread from call to call: fresh scratch costs page faults every call.
        static thread_local BackwardScratch<Real> scratch;
#pragma omp for schedule(static)
        for (std::int64_t task = 0; task < tasks; ++task) {
            backward_task_any(op, task, rows, staged, checkpoints.data<Real>(), grads, scratch);
        }
    }
    SelectiveScanGradients g;
    g.du = du;
    g.ddelta = ddelta;
    g.dz = dz;
    // dB, dC: the groups' sums added in group order.
    const auto over_groups = [&](const Tensor& partial) {
        Tensor sum({M, N}, dtype);
        Real* p = sum.data<Real>();
        for (std::int64_t b = 0; b < batch; ++b) {
            for (std::int64_t group = 0; group < groups; ++group) {
                const Real* q = partial.data<Real>() + (b * groups + group) * op.L * N;
                for (std::int64_t i = 0; i < op.L * N; ++i) p[b * op.L * N + i] += q[i];
            }
        }
        return sum;
    };
    g.dB = over_groups(dB_groups);
    g.dC = over_groups(dC_groups);
    const auto over_sequences = [&](const Tensor& per_seq, Shape summed) {
        Tensor sum(std::move(summed), dtype);
        const std::int64_t width = sum.numel();
        Real* p = sum.data<Real>();
        const Real* q = per_seq.data<Real>();
        for (std::int64_t b = 0; b < batch; ++b) {
            for (std::int64_t i = 0; i < width; ++i) p[i] += q[b * width + i];
        }
        return sum;
    };
    g.dA = over_sequences(dA_seq, {dim, N});
    if (in.D.defined()) g.dD = over_sequences(dD_seq, {dim});
    if (in.delta_bias.defined()) g.ddelta_bias = over_sequences(dbias_seq, {dim});
    return g;
}

}  // namespace

TimeMajorScanResult selective_scan_time_major(const TimeMajorScanInputs& in,
                                              bool keep_checkpoints) {
    check_real_dtype("selective_scan_time_major", in.u);
    return in.u.dtype() == DType::F32 ? forward<float>(in, keep_checkpoints, Layout::kRows)
                                      : forward<double>(in, keep_checkpoints, Layout::kRows);
}

TimeMajorScanResult selective_scan_channel_major(const TimeMajorScanInputs& in,
                                                 bool keep_checkpoints) {
    check_real_dtype("selective_scan_channel_major", in.u);
    return in.u.dtype() == DType::F32
               ? forward<float>(in, keep_checkpoints, Layout::kChannelMajor)
               : forward<double>(in, keep_checkpoints, Layout::kChannelMajor);
}

SelectiveScanGradients selective_scan_time_major_backward(const TimeMajorScanInputs& in,
                                                          const Tensor& dout,
                                                          const Tensor& checkpoints) {
    check_real_dtype("selective_scan_time_major_backward", in.u);
    return in.u.dtype() == DType::F32 ? backward<float>(in, dout, checkpoints, Layout::kRows)
                                      : backward<double>(in, dout, checkpoints, Layout::kRows);
}

SelectiveScanGradients selective_scan_channel_major_backward(const TimeMajorScanInputs& in,
                                                             const Tensor& dout,
                                                             const Tensor& checkpoints) {
    check_real_dtype("selective_scan_channel_major_backward", in.u);
    return in.u.dtype() == DType::F32
               ? backward<float>(in, dout, checkpoints, Layout::kChannelMajor)
               : backward<double>(in, dout, checkpoints, Layout::kChannelMajor);
}

}  // namespace structseq
