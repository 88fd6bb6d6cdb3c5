#pragma once
// Bytes held by tensor storage the library allocated (Storage::allocate), live and at peak, for
// memory models to be checked against. Borrowed storage (numpy arrays, mapped files) and the
// kernels' own scratch vectors are not counted.

#include <cstdint>

namespace structseq {

std::int64_t tensor_bytes_live();
std::int64_t tensor_bytes_peak();  // since the last reset
void reset_tensor_bytes_peak();    // peak := live

// Freed large buffers kept for reuse (core/buffer_cache.h, at most 1 GiB), and their release.
std::int64_t tensor_bytes_cached();
void release_cached_tensor_memory();

namespace detail {
void record_tensor_allocation(std::int64_t bytes);  // negative on release
}  // namespace detail

}  // namespace structseq
