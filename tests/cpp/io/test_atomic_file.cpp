#include "structseq/io/atomic_file.h"

#include "test_util.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace structseq::io {
namespace {

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::size_t files_in(const std::filesystem::path& folder) {
    return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator(folder), {}));
}

TEST(AtomicFile, ReplacesContentsWholly) {
    testing::TempDir dir;
    const auto path = dir.file("a.txt");
    write_file_atomic(path, "first");
    write_file_atomic(path, "second version");
    EXPECT_EQ(read_text(path), "second version");
    EXPECT_EQ(files_in(dir.path()), 1u);  // no temporary left behind
}

TEST(AtomicFile, FailureLeavesOldFileAndNoTemporary) {
    testing::TempDir dir;
    const auto path = dir.file("a.txt");
    write_file_atomic(path, "old");
    EXPECT_ERROR_CONTAINS(write_file_atomic(path,
                                            [&](int fd) {
                                                write_all(fd, "partial", 7, path);
                                                fail("simulated failure halfway");
                                            }),
                          "simulated failure halfway");
    EXPECT_EQ(read_text(path), "old");
    EXPECT_EQ(files_in(dir.path()), 1u);
}

TEST(AtomicFile, MissingFolderIsAClearError) {
    testing::TempDir dir;
    EXPECT_ERROR_CONTAINS(write_file_atomic(dir.file("no/such/folder/x.bin"), "x"),
                          "does not exist");
}

}  // namespace
}  // namespace structseq::io
