#pragma once
// Rotary position embedding (Su et al. 2021, "RoFormer"), GPT-NeoX's half-split form: in each
// head (head_dim d, even) the pairs (x_i, x_{i+d/2}) at position p turn by p·θ_i with
// θ_i = base^(−2i/d):
//   x_i' = x_i cos − x_{i+d/2} sin,   x_{i+d/2}' = x_i sin + x_{i+d/2} cos,
// so q_sᵀ k_t depends on s − t only. The rotation is orthogonal: its backward is the rotation by
// −p·θ_i (`inverse`).

#include "structseq/core/tensor.h"

#include <cstdint>

namespace structseq {

// x (batch, heads, L, d) float32/float64, rotated in place; position of row t is first + t.
void apply_rotary(Tensor& x, std::int64_t first_position, bool inverse = false,
                  double base = 10000.0);

}  // namespace structseq
