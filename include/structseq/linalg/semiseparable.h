#pragma once
// Semiseparable matrices H = T + U·Vᵀ (seed 000): T tridiagonal (main_diag N, super_diag N-1,
// sub_diag N-1), U and V (N, r). Storage is exactly 3N - 2 + 2Nr scalars against N² dense.
//
//   matvec / rmatvec   y = H x, Hᵀ x       x: (N,) or (B, N)   O(B N r)
//   matmat             Y = H X             X: (N, K)           O(N K r)
//   solve              (H - zI)⁻¹ rhs      Woodbury            O(N r² + r³ + B N r)
//   resolvent_diagonal diag((H - zI)⁻¹)    Woodbury            O(N r² + r³)
//   matvec_backward    gradients of y = H x for x, T and U, V  O(B N r)
//
// Woodbury: with T_z = T - zI, W = T_z⁻¹ U, C = I_r + Vᵀ W (the capacitance),
//   (H - zI)⁻¹ = T_z⁻¹ - W C⁻¹ Vᵀ T_z⁻¹,
//   [(H - zI)⁻¹]_ii = [T_z⁻¹]_ii - Σ_pq W_ip (C⁻¹)_pq Y_iq,  Y = T_z⁻ᵀ V,
// so T_z must be invertible (a singular T_z or C is an Error, even where H - zI is not).
// Entries are float32 or float64, all of one dtype; complex shifts give complex results of the
// same precision (complex64 / complex128).

#include "structseq/core/tensor.h"

#include <complex>
#include <cstdint>
#include <optional>

namespace structseq {

struct SemiseparableMemory {
    std::int64_t tridiagonal_bytes = 0;  // (3N - 2) scalars
    std::int64_t lowrank_bytes = 0;      // 2Nr scalars
    std::int64_t total_bytes = 0;
    std::int64_t dense_bytes = 0;  // N² scalars
    double memory_reduction = 0;   // 1 - total / dense
};

struct FactorizationCheck {
    double frobenius_error = 0;  // ‖H - (T + U Vᵀ)‖_F
    double relative_error = 0;   // divided by ‖H‖_F (0 when H = 0 and the error is 0)
    bool passes_tolerance = false;
};

// Gradients of a loss L through y = H x, given dout = ∂L/∂y. Shapes follow the inputs.
struct SemiseparableGradients {
    Tensor dx;           // Tᵀ dout + V (Uᵀ dout)
    Tensor dmain_diag;   // Σ_b dout_bi x_bi
    Tensor dsuper_diag;  // Σ_b dout_bi x_b,i+1
    Tensor dsub_diag;    // Σ_b dout_b,i+1 x_bi
    Tensor dU;           // Σ_b dout_b (Vᵀ x_b)ᵀ
    Tensor dV;           // Σ_b x_b (Uᵀ dout_b)ᵀ
};

class SemiseparableMatrix {
public:
    SemiseparableMatrix(const Tensor& main_diag, const Tensor& super_diag, const Tensor& sub_diag,
                        const Tensor& U, const Tensor& V);

    const Tensor& main_diag() const { return main_; }
    const Tensor& super_diag() const { return super_; }
    const Tensor& sub_diag() const { return sub_; }
    const Tensor& U() const { return U_; }
    const Tensor& V() const { return V_; }
    std::int64_t size() const { return main_.dim(0); }
    std::int64_t rank() const { return U_.dim(1); }
    DType dtype() const { return main_.dtype(); }

    Tensor matvec(const Tensor& x) const;
    Tensor rmatvec(const Tensor& x) const;
    Tensor matmat(const Tensor& X) const;
    Tensor to_dense() const;
    Tensor solve(const Tensor& rhs, std::complex<double> z = 0.0) const;
    Tensor resolvent_diagonal(std::complex<double> z) const;

    SemiseparableMemory memory_usage() const;
    FactorizationCheck verify_factorization(const Tensor& H, double tolerance) const;

    SemiseparableGradients matvec_backward(const Tensor& dout, const Tensor& x) const;

    // Seed 000's checkpointing: checkpoint_forward saves what checkpoint_backward needs. Without
    // checkpointing that is x and the projection Vᵀx (B·r scalars); with it, only x, and Vᵀx is
    // recomputed in backward. U and V are parameters, held either way, so the saving is B·r
    // scalars per call — not the seed's "85 %" (see docs/linalg.md).
    void enable_checkpointing(bool enabled = true) { checkpointing_ = enabled; }
    bool checkpointing_enabled() const { return checkpointing_; }
    Tensor checkpoint_forward(const Tensor& x);
    SemiseparableGradients checkpoint_backward(const Tensor& dout);
    std::int64_t saved_bytes() const;  // activations held between the two calls

private:
    Tensor main_, super_, sub_, U_, V_;
    bool checkpointing_ = false;
    Tensor saved_x_, saved_projection_;
};

}  // namespace structseq
