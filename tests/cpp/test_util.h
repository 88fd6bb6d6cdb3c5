#pragma once
// Helpers shared by the C++ tests.

#include "structseq/core/error.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <string>

namespace structseq::testing {

// A fresh folder under the system temp folder, removed with everything in it.
class TempDir {
public:
    TempDir() {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        path_ = std::filesystem::temp_directory_path() /
                fmt::format("structseq-test-{}-{}-{}", ::getpid(), info ? info->name() : "x",
                            counter()++);
        std::filesystem::create_directories(path_);
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    std::string file(const std::string& name) const { return (path_ / name).string(); }
    const std::filesystem::path& path() const { return path_; }

private:
    static int& counter() {
        static int value = 0;
        return value;
    }
    std::filesystem::path path_;
};

inline void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
}

// Asserts that `statement` throws structseq::Error whose message contains `fragment`.
#define EXPECT_ERROR_CONTAINS(statement, fragment)                                            \
    do {                                                                                      \
        try {                                                                                 \
            statement;                                                                        \
            ADD_FAILURE() << "expected structseq::Error containing \"" << (fragment) << "\""; \
        } catch (const ::structseq::Error& e) {                                               \
            EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)                \
                << "message: " << e.what();                                                   \
        }                                                                                     \
    } while (0)

}  // namespace structseq::testing
