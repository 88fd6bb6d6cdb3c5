#include "structseq/io/atomic_file.h"

#include "structseq/core/error.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

namespace structseq::io {

namespace {

void fsync_folder(const std::filesystem::path& folder) {
    const int fd = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0) return;  // best effort: some filesystems refuse to open folders
    ::fsync(fd);
    ::close(fd);
}

}  // namespace

void write_all(int fd, const void* data, std::size_t bytes, const std::string& path) {
    const char* p = static_cast<const char*>(data);
    while (bytes > 0) {
        const ::ssize_t written = ::write(fd, p, bytes);
        if (written < 0) {
            if (errno == EINTR) continue;
            fail("{}: write failed: {}", path, std::strerror(errno));
        }
        p += written;
        bytes -= static_cast<std::size_t>(written);
    }
}

void write_file_atomic(const std::string& path, const std::function<void(int fd)>& write) {
    const std::filesystem::path target(path);
    const auto folder = target.parent_path();
    if (!folder.empty() && !std::filesystem::is_directory(folder)) {
        fail("{}: cannot write, folder '{}' does not exist", path, folder.string());
    }
    std::string temp = path + ".tmp.XXXXXX";
    std::vector<char> name(temp.begin(), temp.end());
    name.push_back('\0');
    const int fd = ::mkstemp(name.data());
    if (fd < 0) fail("{}: cannot create a temporary file: {}", path, std::strerror(errno));
    temp = name.data();
    bool open = true;
    try {
        ::fchmod(fd, 0644);
        write(fd);
        if (::fsync(fd) != 0) fail("{}: fsync failed: {}", path, std::strerror(errno));
        open = false;
        if (::close(fd) != 0) fail("{}: close failed: {}", path, std::strerror(errno));
    } catch (...) {
        if (open) ::close(fd);
        ::unlink(temp.c_str());
        throw;
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        const int saved = errno;
        ::unlink(temp.c_str());
        fail("{}: cannot rename the temporary file into place: {}", path, std::strerror(saved));
    }
    fsync_folder(folder);
}

void write_file_atomic(const std::string& path, std::string_view contents) {
    write_file_atomic(path, [&](int fd) { write_all(fd, contents.data(), contents.size(), path); });
}

}  // namespace structseq::io
