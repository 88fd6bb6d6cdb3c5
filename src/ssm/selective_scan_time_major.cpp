#include "structseq/ssm/selective_scan_time_major.h"

#include "ssm/lane_exp.h"
#include "structseq/core/cpu_dispatch.h"
#include "structseq/core/error.h"
#include "structseq/core/threads.h"

#include <algorithm>
#include <initializer_list>
#include <string>
#include <vector>

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
};

// The `count` ≤ lanes channels at p; missing lanes read as zero and are not written.
template <class Real>
STRUCTSEQ_ALWAYS_INLINE Vec<Real> load_block(const Real* p, int count) {
    if (count == kLanes<Real>) return load_lanes<Vec<Real>>(p);
    Vec<Real> v = {};
    __builtin_memcpy(&v, p, static_cast<std::size_t>(count) * sizeof(Real));
    return v;
}
template <class Real>
STRUCTSEQ_ALWAYS_INLINE void store_block(Real* p, Vec<Real> v, int count) {
    if (count == kLanes<Real>) {
        store_lanes(p, v);
    } else {
        __builtin_memcpy(p, &v, static_cast<std::size_t>(count) * sizeof(Real));
    }
}

// Δ of a block at one row (bias, softplus); `slope` (when not null) gets dΔ/dδ.
template <class Real>
STRUCTSEQ_ALWAYS_INLINE Vec<Real> step_of(const Operands<Real>& op, std::int64_t row,
                                          std::int64_t c0, int count, Vec<Real> bias,
                                          Vec<Real>* slope) {
    const Vec<Real> raw = load_block(op.delta.row(row) + c0, count) + bias;
    if (!op.softplus) {
        if (slope != nullptr) *slope = Vec<Real>{} + 1;
        return raw;
    }
    if (slope != nullptr) *slope = lane_sigmoid(raw);
    return lane_softplus(raw);
}

// One step of a block's states, x_n ← Ā_n ⊙ x_n + B̄u_n B_t[n] for n < N (Ā into a_bar when not
// null), returning Σ_n C_t[n] x_n.
template <class Real, bool Bilinear>
STRUCTSEQ_ALWAYS_INLINE Vec<Real> advance(std::int64_t N, const Vec<Real>* A, Vec<Real> dt,
                                          Vec<Real> u, const Real* Bt, const Real* Ct, Vec<Real>* x,
                                          Vec<Real>* a_bar) {
    Vec<Real> y = {};
    const Vec<Real> dtu = dt * u;
    for (std::int64_t n = 0; n < N; ++n) {
        Vec<Real> decay, gain;
        if constexpr (Bilinear) {
            const Vec<Real> half = dt * A[n] * Real(0.5), inv = 1 / (1 - half);
            decay = (1 + half) * inv;
            gain = dtu * inv;
        } else {
            decay = lane_exp(dt * A[n]);
            gain = dtu;
        }
        x[n] = decay * x[n] + gain * Bt[n];
        y += Ct[n] * x[n];
        if (a_bar != nullptr) a_bar[n] = decay;
    }
    return y;
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

// A block's per-lane constants: A (N vectors, zero in missing lanes), D, bias.
template <class Real>
struct BlockConstants {
    LaneArray<Vec<Real>> A;
    Vec<Real> D = {}, bias = {};
    BlockConstants(const Operands<Real>& op, std::int64_t c0, int count)
        : A(static_cast<std::size_t>(op.N), Vec<Real>{}) {
        for (int l = 0; l < count; ++l) {
            for (std::int64_t n = 0; n < op.N; ++n) A[n][l] = op.A[(c0 + l) * op.N + n];
            if (op.D != nullptr) D[l] = op.D[c0 + l];
            if (op.bias != nullptr) bias[l] = op.bias[c0 + l];
        }
    }
};

// Sequence b, channels [c0, c0 + count): out rows (M, dim); the states before steps 0, 64, …
// into `checkpoints` (batch, chunks, N, dim) when not null.
template <class Real, bool Bilinear>
STRUCTSEQ_ALWAYS_INLINE void forward_block(const Operands<Real>& op, std::int64_t b,
                                           std::int64_t c0, Real* out, Real* checkpoints) {
    const int count = static_cast<int>(std::min<std::int64_t>(kLanes<Real>, op.dim - c0));
    const BlockConstants<Real> k(op, c0, count);
    LaneArray<Vec<Real>> x(static_cast<std::size_t>(op.N), Vec<Real>{});
    for (std::int64_t t = 0; t < op.L; ++t) {
        const std::int64_t row = b * op.L + t;
        prefetch_step(op, b, t, 1, c0, {out});
        if (checkpoints != nullptr && t % kCheckpointEvery == 0) {
            Real* at =
                checkpoints + ((b * op.chunks() + t / kCheckpointEvery) * op.N) * op.dim + c0;
            for (std::int64_t n = 0; n < op.N; ++n) store_block(at + n * op.dim, x[n], count);
        }
        const Vec<Real> u = load_block(op.u.row(row) + c0, count);
        const Vec<Real> dt = step_of(op, row, c0, count, k.bias, nullptr);
        Vec<Real> y = advance<Real, Bilinear>(op.N, k.A.data(), dt, u, op.B.row(row), op.C.row(row),
                                              x.data(), nullptr);
        y += k.D * u;
        if (op.z.data != nullptr) {
            const Vec<Real> z = load_block(op.z.row(row) + c0, count);
            y *= z * lane_sigmoid(z);
        }
        store_block(out + row * op.dim + c0, y, count);
    }
}

template <class Real>
STRUCTSEQ_ALWAYS_INLINE void forward_task(const Operands<Real>& op, std::int64_t task, Real* out,
                                          Real* checkpoints) {
    const std::int64_t b = task / op.blocks(), c0 = (task % op.blocks()) * kLanes<Real>;
    if (op.bilinear) {
        forward_block<Real, true>(op, b, c0, out, checkpoints);
    } else {
        forward_block<Real, false>(op, b, c0, out, checkpoints);
    }
}

STRUCTSEQ_CPU_CLONES
void forward_task_f32(const Operands<float>& op, std::int64_t task, float* out,
                      float* checkpoints) {
    forward_task(op, task, out, checkpoints);
}
STRUCTSEQ_CPU_CLONES
void forward_task_f64(const Operands<double>& op, std::int64_t task, double* out,
                      double* checkpoints) {
    forward_task(op, task, out, checkpoints);
}

// Where the backward writes: du, ddelta, dz (M, dim); dA, dD and dbias per sequence
// ((batch, dim, N), (batch, dim)); dB and dC summed over each group of blocks
// ((batch, groups, L, N)), to be summed over the groups in order.
template <class Real>
struct Gradients {
    Real *du, *ddelta, *dz;
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
    BlockAdjoint(const Operands<Real>& op, std::int64_t c0, int count)
        : k(op, c0, count),
          adjoint(static_cast<std::size_t>(op.N), Vec<Real>{}),
          dA(static_cast<std::size_t>(op.N), Vec<Real>{}) {}
};

// Per-thread scratch: one block's chunk (its entering state, states, Ā, steps, slopes, C·x) and
// the chunk's dB, dC contributions lane by lane, (64, N, lanes), shared by a group's blocks.
template <class Real>
struct BackwardScratch {
    LaneArray<Vec<Real>> entering, x, states, a_bar, steps, slopes, y;
    std::vector<Real> dB_lanes, dC_lanes;
};

// Chunk c of sequence b, block at c0: the states again from the chunk's checkpoint, then the
// adjoint recursion of selective_scan.h backwards over the chunk; dB and dC lanes added at the
// chunk's rows.
template <class Real, bool Bilinear>
STRUCTSEQ_ALWAYS_INLINE void backward_chunk(const Operands<Real>& op, std::int64_t b,
                                            std::int64_t c0, std::int64_t c, const Real* dout,
                                            const Real* checkpoints, const Gradients<Real>& out,
                                            BlockAdjoint<Real>& st, BackwardScratch<Real>& s) {
    using V = Vec<Real>;
    constexpr int W = kLanes<Real>;
    const std::int64_t N = op.N, L = op.L, dim = op.dim;
    const int count = static_cast<int>(std::min<std::int64_t>(W, dim - c0));
    const V* A = st.k.A.data();
    const std::int64_t t0 = c * kCheckpointEvery, t1 = std::min(L, t0 + kCheckpointEvery);
    const Real* entering = checkpoints + ((b * op.chunks() + c) * N) * dim + c0;
    for (std::int64_t n = 0; n < N; ++n) {
        s.entering[n] = s.x[n] = load_block(entering + n * dim, count);
    }
    for (std::int64_t t = t0; t < t1; ++t) {
        const std::int64_t row = b * L + t, i = t - t0;
        prefetch_step<Real>(op, b, t, 1, c0, {});
        s.steps[i] = step_of(op, row, c0, count, st.k.bias, &s.slopes[i]);
        s.y[i] = advance<Real, Bilinear>(N, A, s.steps[i], load_block(op.u.row(row) + c0, count),
                                         op.B.row(row), op.C.row(row), s.x.data(),
                                         s.a_bar.data() + i * N);
        std::copy_n(s.x.begin(), N, s.states.begin() + i * N);
    }
    for (std::int64_t t = t1 - 1; t >= t0; --t) {
        const std::int64_t row = b * L + t, i = t - t0, at = row * dim + c0;
        prefetch_step(op, b, t, -1, c0, {dout, out.du, out.ddelta, out.dz});
        const V u = load_block(op.u.row(row) + c0, count), dt = s.steps[i];
        V dy = load_block(dout + at, count);
        if (op.z.data != nullptr) {
            const V z = load_block(op.z.row(row) + c0, count), sg = lane_sigmoid(z);
            store_block(out.dz + at, dy * (s.y[i] + st.k.D * u) * sg * (1 + z * (1 - sg)), count);
            dy *= z * sg;
        }
        st.dD += dy * u;
        V du = dy * st.k.D, ddt = {};
        const V* xt = s.states.data() + i * N;
        const V* xp = i > 0 ? s.states.data() + (i - 1) * N : s.entering.data();
        const V* a_bar = s.a_bar.data() + i * N;
        const Real* Bt = op.B.row(row);
        const Real* Ct = op.C.row(row);
        Real* dBt = s.dB_lanes.data() + i * N * W;
        Real* dCt = s.dC_lanes.data() + i * N * W;
        for (std::int64_t n = 0; n < N; ++n) {
            store_lanes(dCt + n * W, load_lanes<V>(dCt + n * W) + dy * xt[n]);
            const V g = st.adjoint[n] + dy * Ct[n];
            V gain = dt;  // ∂B̄u/∂(B u)
            if constexpr (Bilinear) {
                const V inv = 1 / (1 - dt * A[n] * Real(0.5)), inv2 = inv * inv;
                gain *= inv;
                ddt += g * inv2 * (A[n] * xp[n] + Bt[n] * u);
                st.dA[n] += g * dt * inv2 * (xp[n] + dt * Bt[n] * u * Real(0.5));
            } else {
                ddt += g * (A[n] * a_bar[n] * xp[n] + Bt[n] * u);
                st.dA[n] += g * dt * a_bar[n] * xp[n];
            }
            store_lanes(dBt + n * W, load_lanes<V>(dBt + n * W) + g * gain * u);
            du += g * gain * Bt[n];
            st.adjoint[n] = g * a_bar[n];
        }
        const V ddelta = ddt * s.slopes[i];
        st.dbias += ddelta;
        store_block(out.du + at, du, count);
        store_block(out.ddelta + at, ddelta, count);
    }
}

// Task (sequence b, group of blocks): chunk by chunk from the last, every block of the group
// over the chunk, so the chunk's dB and dC lanes (64 × N × lanes) stay in cache and are summed
// over the lanes once per chunk.
template <class Real, bool Bilinear>
STRUCTSEQ_ALWAYS_INLINE void backward_group(const Operands<Real>& op, std::int64_t task,
                                            const Real* dout, const Real* checkpoints,
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
    size(s.states, kCheckpointEvery * N);
    size(s.a_bar, kCheckpointEvery * N);
    size(s.steps, kCheckpointEvery);
    size(s.slopes, kCheckpointEvery);
    size(s.y, kCheckpointEvery);
    std::vector<BlockAdjoint<Real>, LaneAllocator<BlockAdjoint<Real>>> blocks;  // holds vectors
    for (std::int64_t k = first; k < last; ++k) {
        const std::int64_t c0 = k * W;
        blocks.emplace_back(op, c0, static_cast<int>(std::min<std::int64_t>(W, dim - c0)));
    }
    Real* dB_rows = out.dB_groups + (b * groups + g) * L * N;
    Real* dC_rows = out.dC_groups + (b * groups + g) * L * N;
    for (std::int64_t c = op.chunks() - 1; c >= 0; --c) {
        const std::int64_t t0 = c * kCheckpointEvery,
                           rows = std::min(L, t0 + kCheckpointEvery) - t0;
        s.dB_lanes.assign(static_cast<std::size_t>(rows * N * W), Real(0));
        s.dC_lanes.assign(s.dB_lanes.size(), Real(0));
        for (std::int64_t k = first; k < last; ++k) {
            backward_chunk<Real, Bilinear>(op, b, k * W, c, dout, checkpoints, out,
                                           blocks[static_cast<std::size_t>(k - first)], s);
        }
        for (std::int64_t i = 0; i < rows * N; ++i) {
            Real sum_b = 0, sum_c = 0;
            for (int l = 0; l < W; ++l) {
                sum_b += s.dB_lanes[static_cast<std::size_t>(i * W + l)];
                sum_c += s.dC_lanes[static_cast<std::size_t>(i * W + l)];
            }
            dB_rows[t0 * N + i] = sum_b;
            dC_rows[t0 * N + i] = sum_c;
        }
    }
    for (std::int64_t k = first; k < last; ++k) {
        const BlockAdjoint<Real>& st = blocks[static_cast<std::size_t>(k - first)];
        for (int l = 0; l < std::min<std::int64_t>(W, dim - k * W); ++l) {
            const std::int64_t d = k * W + l;
            for (std::int64_t n = 0; n < N; ++n) out.dA[(b * dim + d) * N + n] = st.dA[n][l];
            out.dD[b * dim + d] = st.dD[l];
            out.dbias[b * dim + d] = st.dbias[l];
        }
    }
}

template <class Real>
STRUCTSEQ_ALWAYS_INLINE void backward_task(const Operands<Real>& op, std::int64_t task,
                                           const Real* dout, const Real* checkpoints,
                                           const Gradients<Real>& out, BackwardScratch<Real>& s) {
    if (op.bilinear) {
        backward_group<Real, true>(op, task, dout, checkpoints, out, s);
    } else {
        backward_group<Real, false>(op, task, dout, checkpoints, out, s);
    }
}

STRUCTSEQ_CPU_CLONES
void backward_task_f32(const Operands<float>& op, std::int64_t task, const float* dout,
                       const float* checkpoints, const Gradients<float>& out,
                       BackwardScratch<float>& s) {
    backward_task(op, task, dout, checkpoints, out, s);
}
STRUCTSEQ_CPU_CLONES
void backward_task_f64(const Operands<double>& op, std::int64_t task, const double* dout,
                       const double* checkpoints, const Gradients<double>& out,
                       BackwardScratch<double>& s) {
    backward_task(op, task, dout, checkpoints, out, s);
}

void forward_task_any(const Operands<float>& op, std::int64_t task, float* out,
                      float* checkpoints) {
    forward_task_f32(op, task, out, checkpoints);
}
void forward_task_any(const Operands<double>& op, std::int64_t task, double* out,
                      double* checkpoints) {
    forward_task_f64(op, task, out, checkpoints);
}
void backward_task_any(const Operands<float>& op, std::int64_t task, const float* dout,
                       const float* checkpoints, const Gradients<float>& out,
                       BackwardScratch<float>& s) {
    backward_task_f32(op, task, dout, checkpoints, out, s);
}
void backward_task_any(const Operands<double>& op, std::int64_t task, const double* dout,
                       const double* checkpoints, const Gradients<double>& out,
                       BackwardScratch<double>& s) {
    backward_task_f64(op, task, dout, checkpoints, out, s);
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

template <class Real>
const Real* vector_of(std::string_view where, const char* name, const Tensor& t, std::int64_t dim,
                      std::vector<Tensor>& keep) {
    if (!t.defined()) return nullptr;
    check_shape(where, name, t, {dim});
    check_argument(t.dtype() == dtype_of<Real>(), where, std::string(name) + " dtype",
                   std::string(dtype_name(t.dtype())),
                   std::string(dtype_name(dtype_of<Real>())) + " (as u)");
    keep.push_back(t.contiguous());
    return keep.back().data<Real>();
}

template <class Real>
Operands<Real> operands_of(std::string_view where, const TimeMajorScanInputs& in,
                           std::vector<Tensor>& keep) {
    const Tensor& u = in.u;
    const Tensor& A = in.A;
    const std::int64_t batch = in.batch;
    check_argument(in.discretization == "zoh" || in.discretization == "bilinear", where,
                   "discretization", fmt::format("\"{}\"", in.discretization),
                   "\"zoh\" or \"bilinear\"");
    check_argument(u.rank() == 2 && batch >= 1 && u.dim(0) % batch == 0 && u.dim(0) > 0, where, "u",
                   fmt::format("shape {} with batch {}", shape_string(u.shape()), batch),
                   "(batch · L, dim), L ≥ 1");
    check_argument(A.defined() && A.rank() == 2 && A.dim(0) == u.dim(1), where, "A",
                   A.defined() ? "shape " + shape_string(A.shape()) : "undefined",
                   fmt::format("({}, N)", u.dim(1)));
    Operands<Real> op;
    op.batch = batch;
    op.L = u.dim(0) / batch;
    op.dim = u.dim(1);
    op.N = A.dim(1);
    const std::int64_t M = u.dim(0);
    op.u = rows_of<Real>(where, "u", u, M, op.dim);
    op.delta = rows_of<Real>(where, "delta", in.delta, M, op.dim);
    if (in.z.defined()) op.z = rows_of<Real>(where, "z", in.z, M, op.dim);
    op.B = rows_of<Real>(where, "B", in.B, M, op.N);
    op.C = rows_of<Real>(where, "C", in.C, M, op.N);
    check_argument(A.dtype() == dtype_of<Real>(), where, "A dtype",
                   std::string(dtype_name(A.dtype())),
                   std::string(dtype_name(dtype_of<Real>())) + " (as u)");
    keep.push_back(A.contiguous());
    op.A = keep.back().data<Real>();
    op.D = vector_of<Real>(where, "D", in.D, op.dim, keep);
    op.bias = vector_of<Real>(where, "delta_bias", in.delta_bias, op.dim, keep);
    op.softplus = in.delta_softplus;
    op.bilinear = in.discretization == "bilinear";
    return op;
}

void check_real_dtype(std::string_view where, const Tensor& u) {
    check_argument(u.defined() && (u.dtype() == DType::F32 || u.dtype() == DType::F64), where,
                   "u dtype", u.defined() ? std::string(dtype_name(u.dtype())) : "undefined",
                   "float32 or float64");
}

template <class Real>
TimeMajorScanResult forward(const TimeMajorScanInputs& in, bool keep_checkpoints) {
    std::vector<Tensor> keep;
    const Operands<Real> op = operands_of<Real>("selective_scan_time_major", in, keep);
    TimeMajorScanResult result;
    result.out = Tensor::empty({in.u.dim(0), op.dim}, dtype_of<Real>());
    if (keep_checkpoints) {
        result.checkpoints = Tensor::empty({op.batch, op.chunks(), op.N, op.dim}, dtype_of<Real>());
    }
    Real* po = result.out.data<Real>();
    Real* pc = keep_checkpoints ? result.checkpoints.data<Real>() : nullptr;
    const std::int64_t tasks = op.batch * op.blocks();
#pragma omp parallel for num_threads(num_threads()) \
    schedule(static) if (tasks > 1 && in.u.dim(0) * op.dim * op.N > 20000)
    for (std::int64_t task = 0; task < tasks; ++task) forward_task_any(op, task, po, pc);
    return result;
}

template <class Real>
SelectiveScanGradients backward(const TimeMajorScanInputs& in, const Tensor& dout_in,
                                const Tensor& checkpoints_in) {
    constexpr std::string_view where = "selective_scan_time_major_backward";
    std::vector<Tensor> keep;
    const Operands<Real> op = operands_of<Real>(where, in, keep);
    const Tensor& u = in.u;
    const std::int64_t batch = op.batch;
    const std::int64_t M = u.dim(0), dim = op.dim, N = op.N;
    check_shape(where, "dout", dout_in, {M, dim});
    const Tensor dout = dout_in.to(dtype_of<Real>()).contiguous();
    const DType dtype = dtype_of<Real>();
    Tensor du = Tensor::empty({M, dim}, dtype), ddelta = Tensor::empty({M, dim}, dtype);
    Tensor checkpoints;
    if (checkpoints_in.defined()) {
        check_shape(where, "checkpoints", checkpoints_in, {batch, op.chunks(), N, dim});
        checkpoints = checkpoints_in.to(dtype).contiguous();
    } else {  // the states every 64 steps, from a forward pass
        checkpoints = forward<Real>(in, true).checkpoints;
    }
    Tensor dz = in.z.defined() ? Tensor::empty({M, dim}, dtype) : Tensor();
    std::vector<Real> dA_seq(static_cast<std::size_t>(batch * dim * N));
    std::vector<Real> dD_seq(static_cast<std::size_t>(batch * dim)), dbias_seq(dD_seq.size());
    // Threads split the sequences, and a sequence's blocks into groups when there are fewer
    // sequences than threads.
    const bool parallel = M * dim * N > 20000;
    const std::int64_t threads = parallel ? num_threads() : 1;
    const std::int64_t groups = std::clamp<std::int64_t>(threads / batch, 1, op.blocks());
    std::vector<Real> dB_groups(static_cast<std::size_t>(batch * groups * op.L * N));
    std::vector<Real> dC_groups(dB_groups.size());
    const Gradients<Real> grads{
        du.data<Real>(),  ddelta.data<Real>(), in.z.defined() ? dz.data<Real>() : nullptr,
        dA_seq.data(),    dD_seq.data(),       dbias_seq.data(),
        dB_groups.data(), dC_groups.data(),    groups};
    const std::int64_t tasks = batch * groups;
#pragma omp parallel num_threads(static_cast <int>(threads)) if (parallel && tasks > 1)
    {
        BackwardScratch<Real> scratch;
#pragma omp for schedule(static)
        for (std::int64_t task = 0; task < tasks; ++task) {
            backward_task_any(op, task, dout.data<Real>(), checkpoints.data<Real>(), grads,
                              scratch);
        }
    }
    SelectiveScanGradients g;
    g.du = du;
    g.ddelta = ddelta;
    g.dz = dz;
    // dB, dC: the groups' sums added in group order.
    const auto over_groups = [&](const std::vector<Real>& partial) {
        Tensor sum({M, N}, dtype);
        Real* p = sum.data<Real>();
        for (std::int64_t b = 0; b < batch; ++b) {
            for (std::int64_t group = 0; group < groups; ++group) {
                const Real* q = partial.data() + (b * groups + group) * op.L * N;
                for (std::int64_t i = 0; i < op.L * N; ++i) p[b * op.L * N + i] += q[i];
            }
        }
        return sum;
    };
    g.dB = over_groups(dB_groups);
    g.dC = over_groups(dC_groups);
    const auto over_sequences = [&](const std::vector<Real>& per_seq, Shape shape) {
        Tensor sum(std::move(shape), dtype);
        const std::int64_t width = sum.numel();
        for (std::int64_t b = 0; b < batch; ++b) {
            for (std::int64_t i = 0; i < width; ++i) sum.data<Real>()[i] += per_seq[b * width + i];
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
    return in.u.dtype() == DType::F32 ? forward<float>(in, keep_checkpoints)
                                      : forward<double>(in, keep_checkpoints);
}

SelectiveScanGradients selective_scan_time_major_backward(const TimeMajorScanInputs& in,
                                                          const Tensor& dout,
                                                          const Tensor& checkpoints) {
    check_real_dtype("selective_scan_time_major_backward", in.u);
    return in.u.dtype() == DType::F32 ? backward<float>(in, dout, checkpoints)
                                      : backward<double>(in, dout, checkpoints);
}

}  // namespace structseq
