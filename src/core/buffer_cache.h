#pragma once
// Freed tensor buffers of 256 KiB or more kept for reuse by an allocation of the same (rounded)
// size, up to kBufferCacheBytes in all. A training step or a forward pass allocates the
// same shapes again and again; a fresh buffer costs a page fault and the kernel's zeroing per
// page on first touch, a cached one nothing. Thread-safe.

#include <cstddef>
#include <cstdint>

namespace structseq::detail {

constexpr std::size_t kBufferCacheBytes = std::size_t{1} << 30;

// A cached buffer of exactly `bytes`, or null.
void* take_cached_buffer(std::size_t bytes);
// Keeps `data` (of `bytes`) when the cache has room, else frees it.
void release_buffer(void* data, std::size_t bytes);

}  // namespace structseq::detail
