#pragma once
// Atomic file writes: the bytes go to a temporary file beside the target, are fsync'ed, and the
// temporary is renamed over the target (then the folder is fsync'ed). A reader sees the old file
// or the new one, never half of one; on any error the temporary is removed and Error is thrown.

#include <functional>
#include <string>
#include <string_view>

namespace structseq::io {

// Calls `write(fd)` with a file descriptor open for writing; write_all() is the helper to use.
void write_file_atomic(const std::string& path, const std::function<void(int fd)>& write);
void write_file_atomic(const std::string& path, std::string_view contents);
void write_all(int fd, const void* data, std::size_t bytes, const std::string& path);

}  // namespace structseq::io
