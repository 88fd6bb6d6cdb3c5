#pragma once
// Moves small tensors into shared buffers: every listed tensor under kHugePageBufferBytes becomes
// a contiguous view (same shape, dtype and values) into one buffer per dtype, each starting on a
// 64-byte boundary. A buffer that large sits on huge pages (Tensor storage), so a model's many
// small weights, which generation reads in turn once per token, cost a few TLB entries instead of
// one per 4 KiB page: from buffers of their own, mamba-130m's x_proj and dt_proj (0.5 and 0.3 MB
// per layer) were read well below the rate of its large matrices. Larger tensors
// (already on huge pages) and undefined ones stay as they are. Storage that other tensors share
// stays as it was: only the listed tensors move.

#include "structseq/core/tensor.h"

#include <vector>

namespace structseq {

void pack_tensors(const std::vector<Tensor*>& tensors);

}  // namespace structseq
