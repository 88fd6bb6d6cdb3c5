#include "core/buffer_cache.h"

#include "structseq/core/memory_stats.h"

#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace structseq {

namespace {

struct BufferCache {
    std::mutex mutex;
    std::unordered_map<std::size_t, std::vector<void*>> free_by_size;
    std::size_t bytes = 0;
};

BufferCache& cache() {
    static BufferCache* instance = new BufferCache();  // never destroyed: used at exit
    return *instance;
}

}  // namespace

namespace detail {

void* take_cached_buffer(std::size_t bytes) {
    BufferCache& c = cache();
    const std::lock_guard<std::mutex> lock(c.mutex);
    const auto it = c.free_by_size.find(bytes);
    if (it == c.free_by_size.end() || it->second.empty()) return nullptr;
    void* data = it->second.back();
    it->second.pop_back();
    c.bytes -= bytes;
    return data;
}

void release_buffer(void* data, std::size_t bytes) {
    BufferCache& c = cache();
    {
        const std::lock_guard<std::mutex> lock(c.mutex);
        if (c.bytes + bytes <= kBufferCacheBytes) {
            c.free_by_size[bytes].push_back(data);
            c.bytes += bytes;
            return;
        }
    }
    std::free(data);
}

}  // namespace detail

std::int64_t tensor_bytes_cached() {
    BufferCache& c = cache();
    const std::lock_guard<std::mutex> lock(c.mutex);
    return static_cast<std::int64_t>(c.bytes);
}

void release_cached_tensor_memory() {
    BufferCache& c = cache();
    const std::lock_guard<std::mutex> lock(c.mutex);
    for (auto& [size, buffers] : c.free_by_size) {
        for (void* data : buffers) std::free(data);
    }
    c.free_by_size.clear();
    c.bytes = 0;
}

}  // namespace structseq
