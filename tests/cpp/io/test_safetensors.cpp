#include "structseq/io/safetensors.h"

#include "structseq/core/rng.h"
#include "test_util.h"

#include <cstring>

namespace structseq::io {
namespace {

// A file made by hand: 8-byte length, header text, then `data` bytes.
std::string raw_file(const std::string& header, std::size_t data_bytes,
                     std::uint64_t length_override = 0) {
    const std::uint64_t length = length_override ? length_override : header.size();
    std::string bytes(8, '\0');
    std::memcpy(bytes.data(), &length, 8);
    return bytes + header + std::string(data_bytes, '\x01');
}

SafetensorsFile parse(const std::string& bytes) {
    return SafetensorsFile::parse(MappedFile::from_bytes(bytes), "test.safetensors");
}

TEST(Safetensors, RoundTripKeepsBitsShapesAndMetadata) {
    testing::TempDir dir;
    Rng rng(3);
    const NamedTensors tensors = {
        {"b", rng.normal({3, 5}, DType::F32)},
        {"a", rng.normal({7}, DType::F64)},
        {"empty", Tensor({0, 4}, DType::F32)},
        {"scalar", rng.normal(Shape{}, DType::F32)},
        {"strided", rng.normal({4, 6}, DType::F64).transpose(0, 1)},
    };
    const auto path = dir.file("t.safetensors");
    save_safetensors(path, tensors, {{"format", "pt"}});
    const auto file = SafetensorsFile::open(path);
    EXPECT_EQ(file.entries().size(), tensors.size());
    EXPECT_EQ(file.metadata().at("format"), "pt");
    for (const auto& [name, tensor] : tensors) {
        const Tensor loaded = file.load(name);
        const Tensor want = tensor.contiguous();
        EXPECT_EQ(loaded.shape(), want.shape()) << name;
        EXPECT_EQ(loaded.dtype(), want.dtype()) << name;
        EXPECT_EQ(std::memcmp(loaded.raw_data(), want.raw_data(), want.nbytes()), 0) << name;
    }
    EXPECT_EQ((8 + file.header_bytes()) % 8, 0u);
}

TEST(Safetensors, ViewIsZeroCopyAndOutlivesTheFileObject) {
    testing::TempDir dir;
    const auto path = dir.file("v.safetensors");
    save_safetensors(
        path, {{"x", Rng(1).normal({16, 16}, DType::F64)}, {"y", Rng(2).normal({3}, DType::F32)}});
    Tensor view;
    {
        const auto file = SafetensorsFile::open(path);
        view = file.view("x");
        EXPECT_EQ(std::memcmp(view.raw_data(), file.load("x").raw_data(), view.nbytes()), 0);
    }
    EXPECT_EQ(view.shape(), (Shape{16, 16}));
    EXPECT_EQ(view.at<double>({0, 0}), Rng(1).normal({16, 16}, DType::F64).at<double>({0, 0}));
}

TEST(Safetensors, LoadsHalfPrecisionAsFloat32AndConverts) {
    // F16 1.0 = 0x3C00, -2.0 = 0xC000; BF16 1.0 = 0x3F80, 0.5 = 0x3F00.
    const std::string header =
        R"({"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]}})";
    std::string bytes = raw_file(header, 0);
    const unsigned char data[8] = {0x00, 0x3C, 0x00, 0xC0, 0x80, 0x3F, 0x00, 0x3F};
    bytes.append(reinterpret_cast<const char*>(data), 8);
    const auto file = parse(bytes);
    const Tensor h = file.load("h");
    EXPECT_EQ(h.dtype(), DType::F32);
    EXPECT_EQ(h.data<float>()[0], 1.0f);
    EXPECT_EQ(h.data<float>()[1], -2.0f);
    const Tensor b = file.load("b", DType::F64);
    EXPECT_EQ(b.data<double>()[0], 1.0);
    EXPECT_EQ(b.data<double>()[1], 0.5);
    EXPECT_ERROR_CONTAINS(file.view("h"), "use load()");
}

TEST(Safetensors, ValidDtypesOutsideTheLoadableSetAreListedButRefuseToLoad) {
    const auto file =
        parse(raw_file(R"({"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})", 16));
    EXPECT_EQ(file.entry("ids").dtype, "I64");
    EXPECT_ERROR_CONTAINS(file.load("ids"),
                          "tensor 'ids' has dtype I64; structseq loads F32, F64, F16 and BF16");
    EXPECT_ERROR_CONTAINS(file.load("nope"), "no tensor named 'nope'");
}

struct Malformed {
    const char* name;
    std::string bytes;
    const char* message;
};

void PrintTo(const Malformed& m, std::ostream* os) {
    *os << m.name;
}

class SafetensorsMalformed : public ::testing::TestWithParam<Malformed> {};

TEST_P(SafetensorsMalformed, IsAClearError) {
    EXPECT_ERROR_CONTAINS(parse(GetParam().bytes), GetParam().message);
}

const std::string kGood = R"({"x":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";

INSTANTIATE_TEST_SUITE_P(
    Cases, SafetensorsMalformed,
    ::testing::Values(
        Malformed{"Empty", "", "too short for a safetensors file"},
        Malformed{"Truncated", raw_file(kGood, 16).substr(0, 5), "file is 5 bytes, too short"},
        Malformed{"TruncatedData", raw_file(kGood, 10),
                  "out of range: the data section holds 10 bytes"},
        Malformed{"HeaderBeyondFile", raw_file(kGood, 16, 1000),
                  "header length 1000 reaches beyond the end of the file"},
        Malformed{"HeaderOverLimit", raw_file(kGood, 16, 200'000'000),
                  "exceeds the format's limit"},
        Malformed{"NotJson", raw_file("{\"x\": [1, 2", 0), "header is not valid JSON"},
        Malformed{"NotObject", raw_file("[1, 2]", 0), "header is JSON array, expected an object"},
        Malformed{"UnknownDtype",
                  raw_file(R"({"x":{"dtype":"Q4","shape":[2],"data_offsets":[0,2]}})", 2),
                  "unknown dtype 'Q4'"},
        Malformed{"NegativeShape",
                  raw_file(R"({"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
                  "not a non-negative integer"},
        Malformed{"FractionalShape",
                  raw_file(R"({"x":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4),
                  "not a non-negative integer"},
        Malformed{
            "HugeShape",
            raw_file(
                R"({"x":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8),
            "too large"},
        Malformed{"SizeMismatch",
                  raw_file(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
                  "span 8 bytes, but shape (3,) of F32 needs 12"},
        Malformed{"OffsetsReversed",
                  raw_file(R"({"x":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 8),
                  "out of range"},
        Malformed{"OffsetsOutOfRange",
                  raw_file(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 12),
                  "out of range: the data section holds 12 bytes"},
        Malformed{"OffsetsNotPair",
                  raw_file(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8),
                  "data_offsets"},
        Malformed{
            "Overlap",
            raw_file(
                R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                12),
            "tensors 'a' [0, 8] and 'b' [4, 12] overlap"},
        Malformed{
            "Duplicate",
            raw_file(
                R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                8),
            "tensor 'a' appears twice"},
        Malformed{
            "UnknownField",
            raw_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}})", 4),
            "unknown field 'extra'"},
        Malformed{"EntryNotObject", raw_file(R"({"a":3})", 0), "entry is JSON number"},
        Malformed{"MetadataNotStrings", raw_file(R"({"__metadata__":{"k":1}})", 0),
                  "__metadata__ value of 'k' is JSON number"},
        Malformed{"EmptyName",
                  raw_file(R"({"":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4),
                  "empty name"}),
    [](const ::testing::TestParamInfo<Malformed>& param_info) { return param_info.param.name; });

TEST(Safetensors, WriterRejectsBadInputWithoutWritingAFile) {
    testing::TempDir dir;
    const auto path = dir.file("bad.safetensors");
    EXPECT_ERROR_CONTAINS(
        save_safetensors(path, {{"a", Tensor({1}, DType::F32)}, {"a", Tensor({1}, DType::F32)}}),
        "unique names");
    EXPECT_ERROR_CONTAINS(save_safetensors(path, {{"i", Tensor({1}, DType::I32)}}),
                          "tensor 'i' is of dtype int32, expected float32 or float64");
    EXPECT_ERROR_CONTAINS(save_safetensors(path, {{"__metadata__", Tensor({1}, DType::F32)}}),
                          "other than __metadata__");
    EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(Safetensors, MissingFileIsAClearError) {
    EXPECT_ERROR_CONTAINS(SafetensorsFile::open("/nonexistent/x.safetensors"), "cannot open");
}

}  // namespace
}  // namespace structseq::io
