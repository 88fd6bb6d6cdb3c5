#include "structseq/io/mapped_file.h"

#include "structseq/core/error.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace structseq::io {

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) fail("{}: cannot open: {}", path, std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        fail("{}: not a regular file", path);
    }
    std::shared_ptr<MappedFile> file(new MappedFile());
    file->size_ = static_cast<std::size_t>(st.st_size);
    if (file->size_ > 0) {
        void* p = ::mmap(nullptr, file->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            const int saved = errno;
            ::close(fd);
            fail("{}: cannot map {} bytes: {}", path, file->size_, std::strerror(saved));
        }
        file->data_ = static_cast<unsigned char*>(p);
        file->mapped_ = true;
    }
    file->fd_ = fd;
    return file;
}

std::shared_ptr<const MappedFile> MappedFile::from_bytes(std::string bytes) {
    std::shared_ptr<MappedFile> file(new MappedFile());
    file->buffer_ = std::move(bytes);
    file->data_ = reinterpret_cast<unsigned char*>(file->buffer_.data());
    file->size_ = file->buffer_.size();
    return file;
}

MappedFile::~MappedFile() {
    if (mapped_) ::munmap(data_, size_);
    if (fd_ >= 0) ::close(fd_);
}

void MappedFile::copy_to(void* out, std::size_t offset, std::size_t bytes) const {
    if (offset > size_ || bytes > size_ - offset) {
        fail("MappedFile::copy_to: range [{}, {}) beyond {} bytes", offset, offset + bytes, size_);
    }
    auto* dst = static_cast<unsigned char*>(out);
    while (fd_ >= 0 && bytes > 0) {
        const ::ssize_t got = ::pread(fd_, dst, bytes, static_cast<::off_t>(offset));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;  // the mapping below serves whatever pread could not
        dst += got;
        offset += static_cast<std::size_t>(got);
        bytes -= static_cast<std::size_t>(got);
    }
    if (bytes > 0) std::memcpy(dst, data_ + offset, bytes);
}

}  // namespace structseq::io
