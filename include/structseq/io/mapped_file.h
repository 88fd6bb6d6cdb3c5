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

private:
    MappedFile() = default;
    unsigned char* data_ = nullptr;
    std::size_t size_ = 0;
    bool mapped_ = false;
    std::string buffer_;
};

}  // namespace structseq::io
