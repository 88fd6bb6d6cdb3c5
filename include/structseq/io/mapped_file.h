#pragma once
// A whole file mapped read-only into memory (copy-on-write: writes through a view stay private).
// Bytes can also come from an in-memory buffer, so parsers can be tested and fuzzed without files.

#include <cstddef>
#include <memory>
#include <string>

namespace structseq::io {

class MappedFile {
public:
    static std::shared_ptr<const MappedFile> open(const std::string& path);
    static std::shared_ptr<const MappedFile> from_bytes(std::string bytes);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const unsigned char* data() const { return data_; }
    std::size_t size() const { return size_; }

    // Copies bytes [offset, offset + bytes) to `out`. For a file this reads through the file
    // descriptor, which is about twice as fast as copying from the mapping page by page.
    void copy_to(void* out, std::size_t offset, std::size_t bytes) const;

private:
    MappedFile() = default;
    unsigned char* data_ = nullptr;
    std::size_t size_ = 0;
    bool mapped_ = false;
    int fd_ = -1;
    std::string buffer_;
};

}  // namespace structseq::io
