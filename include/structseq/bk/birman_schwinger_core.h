#pragma once
// BirmanSchwingerCore (seed 001): a sequence layer that turns a potential v — one real number
// per position (and channel) — into resolvent features. H = H₀ + diag(v) with a tridiagonal
// "free" H₀ (the discrete -Δ by default: main 2t, off-diagonals -t), and
//   bidirectional: features_i = (Re G_ii, Im G_ii), G = (H - zI)⁻¹, O(N) per sequence;
//   causal:        the same for the resolvent of the leading i × i block, 1/d_i, so feature i
//                  depends on v_1 … v_i only (a language model may use it);
//   semiseparable: bidirectional with H = H₀ + diag(v) + U·Vᵀ, by Woodbury, O(N r²)
//                  (semiseparable_features.h). Causal + semiseparable is refused: a global
//                  low-rank term couples every position to the future.
// Backward is exact and O(N) (resolvent_features.h). Im z = 0 is refused: with Im z ≠ 0 and a
// real symmetric H no pivot can vanish; explicit non-symmetric H₀ diagonals can make one
// vanish, which is an Error — nothing is clamped.
//
// Shapes: v (B, N) or (B, C, N), float32 or float64; features (…, N, 2) in the layer's real
// precision (float64 for complex128, float32 for complex64); grad_v like v.
//
// Saved for backward: the features (complex, 16 or 8 bytes per element) and v; with gradient
// checkpointing only v, and the forward is recomputed inside backward.

#include "structseq/bk/resolvent_features.h"
#include "structseq/core/tensor.h"

#include <complex>
#include <cstdint>
#include <optional>
#include <vector>

namespace structseq {

struct BirmanSchwingerOptions {
    std::int64_t n_seq = 0;
    std::complex<double> z{0.0, 1.0};
    // H₀: empty main_diag means the Laplacian with `hopping`.
    std::vector<double> main_diag, super_diag, sub_diag;
    double hopping = 1.0;
    BkMode mode = BkMode::Bidirectional;
    bool gradient_checkpointing = false;
    bool learnable_z = false;   // a hint for optimizers; grad_z() accumulates either way
    DType dtype = DType::C128;  // compute precision: C128 or C64
    // Semiseparable mode (bidirectional only): H = H₀ + diag(v) + U·Vᵀ with U, V (N × rank)
    // owned by the layer, initialized N(0, 1/N) from Rng(seed); rank 0 means ⌈log₂ N⌉.
    bool use_semiseparable = false;
    std::int64_t semiseparable_rank = 0;
    std::uint64_t seed = 0;
};

struct BirmanSchwingerDiagnostics {
    double min_abs_pivot = 0;
    std::int64_t memory_bytes = 0;  // activations held for backward after this forward
    std::int64_t dense_bytes = 0;   // a dense complex N × N resolvent per sequence
    double memory_savings = 0;      // 1 - memory_bytes / dense_bytes
    std::int64_t sequences = 0;     // B (× C)
};

// The layer's memory for one forward + backward over `sequences` rows of N (seed 001's
// estimate_memory_usage), in bytes. What the tensors of a step hold at its peak — the input
// rows in compute precision, the complex features (also the output), grad_v, and the features
// recomputed by a checkpointed backward — is exact for the tensors the library allocates
// (core/memory_stats.h); per-thread kernel scratch (≤ 64 MiB) is not included.
struct BirmanSchwingerMemory {
    std::int64_t parameters = 0;   // H₀ diagonals, U and V, and their gradients
    std::int64_t optimizer = 0;    // two Adam moments per learnable parameter (U, V)
    std::int64_t activations = 0;  // held between forward and backward
    std::int64_t step_peak = 0;    // tensors alive at the peak of forward + backward
    std::int64_t total = 0;        // parameters + optimizer + step_peak
    std::int64_t dense_bytes = 0;  // a dense complex N × N resolvent per sequence
    double memory_savings = 0;     // 1 - step_peak / dense_bytes
};

struct BirmanSchwingerHistoryEntry {
    std::int64_t sequences = 0;
    std::int64_t activation_bytes = 0;
    double min_abs_pivot = 0;
};

class BirmanSchwingerCore {
public:
    explicit BirmanSchwingerCore(BirmanSchwingerOptions options);

    // features (…, N, 2); z overrides the layer's own for this call (and its backward).
    Tensor forward(const Tensor& v, std::optional<std::complex<double>> z = std::nullopt,
                   BirmanSchwingerDiagnostics* diagnostics = nullptr);
    // grad_features (…, N, 2) → grad_v (like v); adds ∂L/∂Re z + i ∂L/∂Im z into grad_z()
    // (always; learnable_z only tells an optimizer whether to step z). Each forward serves one
    // backward.
    Tensor backward(const Tensor& grad_features);

    std::complex<double> z() const { return options_.z; }
    void set_z(std::complex<double> z);
    std::complex<double> grad_z() const { return grad_z_; }
    // Semiseparable mode: the parameters (N × rank, compute precision, writable in place) and
    // their accumulated gradients.
    Tensor& U() { return U_; }
    Tensor& V() { return V_; }
    const Tensor& grad_U() const { return grad_U_; }
    const Tensor& grad_V() const { return grad_V_; }
    void zero_grad();
    const BirmanSchwingerOptions& options() const { return options_; }
    std::int64_t saved_bytes() const;

    BirmanSchwingerMemory estimate_memory(std::int64_t sequences, bool checkpointing) const;
    // The largest number of sequences whose estimated total fits safety_factor × available
    // (binary search over estimate_memory); Error when not even one fits.
    std::int64_t optimal_batch_size(std::int64_t available_bytes, bool checkpointing,
                                    double safety_factor = 0.8) const;
    const std::vector<BirmanSchwingerHistoryEntry>& history() const { return history_; }

private:
    template <class Real>
    Tensor run_forward(const Tensor& v_in, std::complex<double> z, BirmanSchwingerDiagnostics*);
    template <class Real>
    Tensor run_backward(const Tensor& grad_features);
    // H₀'s main diagonal plus v, (rows, N), for the semiseparable forward and the backward.
    template <class Real>
    Tensor main_diagonal(const Tensor& v) const;
    // T's rows: `main` (rows, N) with H₀'s off-diagonals.
    template <class Real>
    TridiagonalRows<Real> h0_rows(const Tensor& main) const;

    BirmanSchwingerOptions options_;
    Tensor h0_main_, h0_super_, h0_sub_;  // in the compute precision
    std::complex<double> grad_z_ = 0.0;
    Tensor U_, V_, grad_U_, grad_V_;  // semiseparable mode only
    std::vector<BirmanSchwingerHistoryEntry> history_;
    // Saved by forward for backward.
    Tensor saved_v_;         // v as (rows, N) in the compute precision
    Tensor saved_features_;  // (rows, N) complex, absent with checkpointing
    Shape saved_shape_;      // v's shape
    DType saved_dtype_ = DType::F64;
    std::complex<double> saved_z_ = 0.0;
};

}  // namespace structseq
