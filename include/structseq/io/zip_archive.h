#pragma once
// Reading the stored (uncompressed) members of a zip archive, as torch.save writes them:
// the end-of-central-directory record (zip64 when present) locates the central directory, whose
// entries give each member's size and local header; a member's bytes are a view into the mapped
// file. Everything is bounds-checked against the file; a compressed member, a truncated
// archive or a member outside the file is an Error naming the archive.

#include "structseq/io/mapped_file.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace structseq::io {

struct ZipMember {
    std::string name;
    std::uint64_t data_offset = 0;  // first byte of the member's data in the file
    std::uint64_t size = 0;
    std::uint16_t method = 0;  // 0 = stored
};

class ZipArchive {
public:
    static ZipArchive open(const std::string& path);

    const std::string& source() const { return source_; }
    const std::vector<ZipMember>& members() const { return members_; }
    const ZipMember* find(std::string_view name) const;
    // The bytes of a stored member; Error when absent or compressed.
    std::string_view read(std::string_view name) const;
    const std::shared_ptr<const MappedFile>& file() const { return bytes_; }

private:
    std::string source_;
    std::shared_ptr<const MappedFile> bytes_;
    std::vector<ZipMember> members_;
};

}  // namespace structseq::io
