#include "structseq/io/npy.h"

#include "structseq/core/rng.h"
#include "test_util.h"

#include <cstring>

namespace structseq::io {
namespace {

TEST(Npy, RoundTripsEveryDtype) {
    testing::TempDir dir;
    for (DType dtype : {DType::F32, DType::F64, DType::C64, DType::C128, DType::I8, DType::U8,
                        DType::I32, DType::I64}) {
        const Tensor t = Rng(9).normal({3, 4}, DType::F64).transpose(0, 1).to(dtype).contiguous();
        const auto path = dir.file(fmt::format("{}.npy", dtype_name(dtype)));
        save_npy(path, t);
        const Tensor back = load_npy(path);
        EXPECT_EQ(back.dtype(), dtype);
        EXPECT_EQ(back.shape(), (Shape{4, 3}));
        EXPECT_EQ(std::memcmp(back.raw_data(), t.raw_data(), t.nbytes()), 0) << dtype_name(dtype);
    }
}

TEST(Npy, ScalarAndVectorShapes) {
    testing::TempDir dir;
    save_npy(dir.file("s.npy"), Tensor(Shape{}, DType::F32));
    EXPECT_EQ(load_npy(dir.file("s.npy")).shape(), Shape{});
    save_npy(dir.file("v.npy"), Tensor({5}, DType::F32));
    EXPECT_EQ(load_npy(dir.file("v.npy")).shape(), (Shape{5}));
}

std::string npy_bytes(const std::string& dict, std::size_t data_bytes) {
    std::string bytes = "\x93NUMPY\x01";
    bytes += '\0';
    bytes += static_cast<char>(dict.size() & 0xFF);
    bytes += static_cast<char>(dict.size() >> 8);
    return bytes + dict + std::string(data_bytes, '\0');
}

NpyHeader parse(const std::string& bytes) {
    return parse_npy_header(*MappedFile::from_bytes(bytes), "x.npy");
}

TEST(Npy, MalformedFilesAreClearErrors) {
    EXPECT_ERROR_CONTAINS(parse("hello world"), "not an .npy file");
    EXPECT_ERROR_CONTAINS(
        parse(npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8)),
        "npy dtype '>f4' is not supported");
    EXPECT_ERROR_CONTAINS(
        parse(npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", 8)),
        "Fortran order");
    EXPECT_ERROR_CONTAINS(
        parse(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 8)),
        "needs 12");
    EXPECT_ERROR_CONTAINS(parse(npy_bytes("{'descr': '<f4', 'fortran_order': False, }", 8)),
                          "no 'shape' field");
    EXPECT_ERROR_CONTAINS(
        parse(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", 8)),
        "non-negative integers");
    std::string truncated =
        npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 8);
    EXPECT_ERROR_CONTAINS(parse(truncated.substr(0, 20)), "reaches beyond the end");
}

}  // namespace
}  // namespace structseq::io
