#include "structseq/io/zip_archive.h"

#include "structseq/core/error.h"

#include <algorithm>
#include <cstring>

namespace structseq::io {

namespace {

constexpr std::uint32_t kLocalHeader = 0x04034b50;
constexpr std::uint32_t kCentralHeader = 0x02014b50;
constexpr std::uint32_t kEnd = 0x06054b50;
constexpr std::uint32_t kEnd64Locator = 0x07064b50;
constexpr std::uint32_t kEnd64 = 0x06064b50;

// Little-endian reads at an offset checked against the file.
class Reader {
public:
    Reader(const MappedFile& file, const std::string& source) : file_(file), source_(source) {}

    template <class T>
    T at(std::uint64_t offset) const {
        need(offset, sizeof(T));
        T value = 0;
        for (std::size_t k = 0; k < sizeof(T); ++k) {
            value |= static_cast<T>(static_cast<T>(file_.data()[offset + k]) << (8 * k));
        }
        return value;
    }

    std::string_view bytes(std::uint64_t offset, std::uint64_t count) const {
        need(offset, count);
        return {reinterpret_cast<const char*>(file_.data()) + offset, count};
    }

    void need(std::uint64_t offset, std::uint64_t count) const {
        if (offset > file_.size() || count > file_.size() - offset) {
            fail(
                "{}: not a valid zip archive (a record at byte {} of {} bytes runs past the end "
                "of the file)",
                source_, offset, file_.size());
        }
    }

private:
    const MappedFile& file_;
    const std::string& source_;
};

}  // namespace

ZipArchive ZipArchive::open(const std::string& path) {
    ZipArchive zip;
    zip.source_ = path;
    zip.bytes_ = MappedFile::open(path);
    const Reader r(*zip.bytes_, zip.source_);
    const std::uint64_t size = zip.bytes_->size();
    // The end record is in the last 22 + 65535 bytes (its comment is at most 65535 bytes).
    // Scanned from the back, p counting down from size − 22 (as p − 1 to stay unsigned).
    const std::uint64_t earliest = size > 22 + 65535 ? size - 22 - 65535 : 0;
    std::uint64_t end = size;
    for (std::uint64_t p = size >= 22 ? size - 21 : 0; p > earliest && end == size; --p) {
        if (r.at<std::uint32_t>(p - 1) == kEnd) end = p - 1;
    }
    if (end == size) fail("{}: not a zip archive (no end of central directory record)", path);
    std::uint64_t count = r.at<std::uint16_t>(end + 10);
    std::uint64_t directory = r.at<std::uint32_t>(end + 16);
    if (end >= 20 && r.at<std::uint32_t>(end - 20) == kEnd64Locator) {
        const std::uint64_t end64 = r.at<std::uint64_t>(end - 20 + 8);
        if (r.at<std::uint32_t>(end64) != kEnd64) {
            fail("{}: not a valid zip archive (bad zip64 end record)", path);
        }
        count = r.at<std::uint64_t>(end64 + 32);
        directory = r.at<std::uint64_t>(end64 + 48);
    }
    if (count > size / 46) fail("{}: not a valid zip archive ({} entries claimed)", path, count);
    std::uint64_t p = directory;
    for (std::uint64_t k = 0; k < count; ++k) {
        if (r.at<std::uint32_t>(p) != kCentralHeader) {
            fail("{}: not a valid zip archive (central directory entry {} is damaged)", path, k);
        }
        ZipMember m;
        m.method = r.at<std::uint16_t>(p + 10);
        std::uint64_t compressed = r.at<std::uint32_t>(p + 20);
        std::uint64_t uncompressed = r.at<std::uint32_t>(p + 24);
        const std::uint16_t name_length = r.at<std::uint16_t>(p + 28);
        const std::uint16_t extra_length = r.at<std::uint16_t>(p + 30);
        const std::uint16_t comment_length = r.at<std::uint16_t>(p + 32);
        std::uint64_t local = r.at<std::uint32_t>(p + 42);
        m.name = std::string(r.bytes(p + 46, name_length));
        // zip64 extra field: the 64-bit values of the fields saturated at 0xFFFFFFFF, in order.
        const std::uint64_t extra = p + 46 + name_length;
        for (std::uint64_t e = extra; e + 4 <= extra + extra_length;) {
            const std::uint16_t id = r.at<std::uint16_t>(e);
            const std::uint16_t length = r.at<std::uint16_t>(e + 2);
            if (id == 0x0001) {
                std::uint64_t q = e + 4;
                const auto widen = [&](std::uint64_t& field) {
                    if (field == 0xFFFFFFFFu && q + 8 <= e + 4 + length) {
                        field = r.at<std::uint64_t>(q);
                        q += 8;
                    }
                };
                widen(uncompressed);
                widen(compressed);
                widen(local);
            }
            e += 4 + length;
        }
        if (r.at<std::uint32_t>(local) != kLocalHeader) {
            fail("{}: not a valid zip archive (member {} has no local header)", path, m.name);
        }
        m.data_offset =
            local + 30 + r.at<std::uint16_t>(local + 26) + r.at<std::uint16_t>(local + 28);
        m.size = m.method == 0 ? uncompressed : compressed;
        r.need(m.data_offset, m.size);
        zip.members_.push_back(std::move(m));
        p += 46 + name_length + extra_length + comment_length;
    }
    return zip;
}

const ZipMember* ZipArchive::find(std::string_view name) const {
    const auto it = std::find_if(members_.begin(), members_.end(),
                                 [&](const ZipMember& m) { return m.name == name; });
    return it == members_.end() ? nullptr : &*it;
}

std::string_view ZipArchive::read(std::string_view name) const {
    const ZipMember* m = find(name);
    if (m == nullptr) fail("{}: no member {}", source_, name);
    if (m->method != 0) {
        fail("{}: member {} is compressed (method {}); only stored members are read", source_, name,
             m->method);
    }
    return {reinterpret_cast<const char*>(bytes_->data()) + m->data_offset, m->size};
}

}  // namespace structseq::io
