#include "structseq/io/npy.h"

#include "structseq/io/atomic_file.h"

#include <array>
#include <charconv>
#include <cstring>
#include <string_view>

namespace structseq::io {

namespace {

constexpr std::string_view kMagic = "\x93NUMPY";

struct Descr {
    std::string_view text;
    DType dtype;
};

constexpr std::array<Descr, 8> kDescrs = {{
    {"<f4", DType::F32},
    {"<f8", DType::F64},
    {"<c8", DType::C64},
    {"<c16", DType::C128},
    {"|i1", DType::I8},
    {"|u1", DType::U8},
    {"<i4", DType::I32},
    {"<i8", DType::I64},
}};

// The value text after `'key':` in the header's Python dict literal.
std::string_view dict_value(std::string_view dict, std::string_view key,
                            const std::string& source) {
    const std::string quoted = fmt::format("'{}':", key);
    const auto at = dict.find(quoted);
    if (at == std::string_view::npos) fail("{}: npy header has no '{}' field", source, key);
    std::string_view rest = dict.substr(at + quoted.size());
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    return rest;
}

DType parse_descr(std::string_view dict, const std::string& source) {
    std::string_view value = dict_value(dict, "descr", source);
    if (value.empty() || value.front() != '\'') fail("{}: npy descr is not a string", source);
    value.remove_prefix(1);
    const auto end = value.find('\'');
    if (end == std::string_view::npos) fail("{}: npy descr string is not terminated", source);
    value = value.substr(0, end);
    for (const auto& d : kDescrs) {
        if (d.text == value) return d.dtype;
    }
    fail(
        "{}: npy dtype '{}' is not supported, expected one of <f4, <f8, <c8, <c16, |i1, |u1, <i4, "
        "<i8",
        source, value);
}

Shape parse_shape(std::string_view dict, const std::string& source) {
    std::string_view value = dict_value(dict, "shape", source);
    if (value.empty() || value.front() != '(') fail("{}: npy shape is not a tuple", source);
    const auto close = value.find(')');
    if (close == std::string_view::npos) fail("{}: npy shape tuple is not terminated", source);
    std::string_view inner = value.substr(1, close - 1);
    Shape shape;
    while (!inner.empty()) {
        while (!inner.empty() && (inner.front() == ' ' || inner.front() == ','))
            inner.remove_prefix(1);
        if (inner.empty()) break;
        std::int64_t extent = -1;
        const auto [end, ec] = std::from_chars(inner.data(), inner.data() + inner.size(), extent);
        if (ec != std::errc() || extent < 0) {
            fail("{}: npy shape '{}' is not a tuple of non-negative integers", source,
                 value.substr(0, close + 1));
        }
        shape.push_back(extent);
        inner.remove_prefix(static_cast<std::size_t>(end - inner.data()));
    }
    return shape;
}

}  // namespace

NpyHeader parse_npy_header(const MappedFile& bytes, const std::string& source) {
    const auto* data = reinterpret_cast<const char*>(bytes.data());
    const std::size_t size = bytes.size();
    if (size < 10 || std::string_view(data, 6) != kMagic) {
        fail("{}: not an .npy file (it does not start with \\x93NUMPY)", source);
    }
    NpyHeader header;
    header.major_version = static_cast<unsigned char>(data[6]);
    std::size_t length = 0;
    std::size_t prefix = 0;
    if (header.major_version == 1) {
        length = static_cast<unsigned char>(data[8]) |
                 static_cast<std::size_t>(static_cast<unsigned char>(data[9])) << 8;
        prefix = 10;
    } else if (header.major_version == 2 || header.major_version == 3) {
        if (size < 12) fail("{}: npy file is truncated in its header", source);
        std::uint32_t length32 = 0;
        std::memcpy(&length32, data + 8, 4);
        length = length32;
        prefix = 12;
    } else {
        fail("{}: npy format version {} is not supported, expected 1, 2 or 3", source,
             header.major_version);
    }
    if (length > size - prefix) {
        fail("{}: npy header length {} reaches beyond the end of the file ({} bytes)", source,
             length, size);
    }
    const std::string_view dict(data + prefix, length);
    header.dtype = parse_descr(dict, source);
    if (dict_value(dict, "fortran_order", source).starts_with("True")) {
        fail("{}: npy array is in Fortran order; save it with np.ascontiguousarray first", source);
    }
    header.shape = parse_shape(dict, source);
    header.data_offset = prefix + length;
    const auto needed =
        static_cast<std::size_t>(shape_numel(header.shape)) * dtype_size(header.dtype);
    if (size - header.data_offset != needed) {
        fail("{}: npy data holds {} bytes, but shape {} of {} needs {}", source,
             size - header.data_offset, shape_string(header.shape), dtype_name(header.dtype),
             needed);
    }
    return header;
}

Tensor load_npy(const std::string& path) {
    const auto bytes = MappedFile::open(path);
    const NpyHeader header = parse_npy_header(*bytes, path);
    Tensor out = Tensor::empty(header.shape, header.dtype);
    bytes->copy_to(out.raw_data(), header.data_offset, out.nbytes());
    return out;
}

void save_npy(const std::string& path, const Tensor& tensor) {
    check_argument(tensor.defined(), "save_npy", "tensor", "undefined", "a tensor");
    std::string_view descr;
    for (const auto& d : kDescrs) {
        if (d.dtype == tensor.dtype()) descr = d.text;
    }
    std::string shape;
    for (std::int64_t extent : tensor.shape()) shape += fmt::format("{}, ", extent);
    if (tensor.rank() > 1) shape.resize(shape.size() - 2);
    std::string dict =
        fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}", descr, shape);
    const std::size_t total = 10 + dict.size() + 1;
    dict.append((64 - total % 64) % 64, ' ');
    dict.push_back('\n');
    std::string prefix(kMagic);
    prefix += '\x01';
    prefix += '\x00';
    prefix += static_cast<char>(dict.size() & 0xFF);
    prefix += static_cast<char>(dict.size() >> 8);
    const Tensor data = tensor.contiguous();
    write_file_atomic(path, [&](int fd) {
        write_all(fd, prefix.data(), prefix.size(), path);
        write_all(fd, dict.data(), dict.size(), path);
        if (data.nbytes() > 0) write_all(fd, data.raw_data(), data.nbytes(), path);
    });
}

}  // namespace structseq::io
