#pragma once
// Tensors from a file written by torch.save (the zip format of PyTorch ≥ 1.6, as
// pytorch_model.bin): a zip archive whose data.pkl is a pickle of a dict of tensors, and whose
// data/<key> members hold the storages.
//
// The pickle is read by a restricted unpickler that never calls anything from the file. It
// knows the opcodes of protocols 2–4 that plain containers and tensors use, and it accepts only
// these globals: collections.OrderedDict, torch._utils._rebuild_tensor_v2,
// torch._utils._rebuild_parameter and torch.<T>Storage for the numeric storage types. Any other
// global (os.system, builtins.eval, ...) or opcode is an Error before it could take effect, so a
// malicious file is refused, never run. Tensors of float32, float64, float16 and bfloat16
// (widened to float32), int64 and int32 load; views (offset, strides) are copied out contiguous.

#include "structseq/core/tensor.h"

#include <string>
#include <utility>
#include <vector>

namespace structseq::io {

// (name, tensor) in the file's order; Error when the top-level object is not a dict of tensors.
std::vector<std::pair<std::string, Tensor>> load_torch_checkpoint(const std::string& path);

}  // namespace structseq::io
