#include "structseq/core/packed_tensors.h"

#include <cstring>
#include <map>

namespace structseq {

void pack_tensors(const std::vector<Tensor*>& tensors) {
    std::map<DType, std::vector<Tensor*>> by_dtype;
    for (Tensor* t : tensors) {
        if (t->defined() && t->nbytes() < kHugePageBufferBytes) by_dtype[t->dtype()].push_back(t);
    }
    for (const auto& [dtype, group] : by_dtype) {
        const auto align = static_cast<std::int64_t>(64 / dtype_size(dtype));
        const auto padded = [&](const Tensor* t) {
            return (t->numel() + align - 1) / align * align;
        };
        std::int64_t total = 0;
        for (const Tensor* t : group) total += padded(t);
        const Tensor buffer = Tensor::empty({total}, dtype);
        std::int64_t offset = 0;
        for (Tensor* t : group) {
            Tensor view = buffer.narrow(0, offset, t->numel()).reshape(t->shape());
            const Tensor values = t->contiguous();
            std::memcpy(view.raw_data(), values.raw_data(), t->nbytes());
            *t = std::move(view);
            offset += padded(t);
        }
    }
}

}  // namespace structseq
