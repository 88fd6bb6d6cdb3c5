#include "structseq/io/safetensors.h"

#include "structseq/core/float16.h"
#include "structseq/io/atomic_file.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <limits>
#include <optional>
#include <set>

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian bytes; a big-endian host needs byte swaps");

namespace structseq::io {

namespace {

using json = nlohmann::json;

constexpr std::array<std::pair<std::string_view, std::size_t>, 15> kDTypeSizes = {{
    {"BOOL", 1},
    {"U8", 1},
    {"I8", 1},
    {"F8_E5M2", 1},
    {"F8_E4M3", 1},
    {"I16", 2},
    {"U16", 2},
    {"F16", 2},
    {"BF16", 2},
    {"I32", 4},
    {"U32", 4},
    {"F32", 4},
    {"I64", 8},
    {"U64", 8},
    {"F64", 8},
}};

std::uint64_t read_u64_le(const unsigned char* p) {
    std::uint64_t value = 0;
    std::memcpy(&value, p, sizeof value);
    return value;
}

// A JSON value that is a non-negative integer, else empty.
std::optional<std::uint64_t> as_offset(const json& value) {
    if (value.is_number_unsigned()) return value.get<std::uint64_t>();
    if (value.is_number_integer() && value.get<std::int64_t>() >= 0)
        return value.get<std::uint64_t>();
    return std::nullopt;
}

// The Tensor dtype of a safetensors float type that loads without conversion.
std::optional<DType> native_float_dtype(std::string_view dtype) {
    if (dtype == "F32") return DType::F32;
    if (dtype == "F64") return DType::F64;
    return std::nullopt;
}

[[noreturn]] void fail_entry(const std::string& source, const std::string& name,
                             std::string_view what) {
    fail("{}: tensor '{}': {}", source, name, what);
}

SafetensorsEntry parse_entry(const std::string& source, const std::string& name, const json& value,
                             std::uint64_t data_bytes) {
    if (name.empty()) fail("{}: a tensor has an empty name", source);
    if (!value.is_object())
        fail_entry(source, name,
                   fmt::format("entry is JSON {}, expected an object", value.type_name()));
    for (const auto& [key, ignored] : value.items()) {
        if (key != "dtype" && key != "shape" && key != "data_offsets") {
            fail_entry(
                source, name,
                fmt::format("unknown field '{}', expected dtype, shape and data_offsets", key));
        }
    }
    if (!value.contains("dtype") || !value["dtype"].is_string())
        fail_entry(source, name, "missing string field 'dtype'");
    if (!value.contains("shape") || !value["shape"].is_array())
        fail_entry(source, name, "missing array field 'shape'");
    if (!value.contains("data_offsets") || !value["data_offsets"].is_array() ||
        value["data_offsets"].size() != 2) {
        fail_entry(source, name, "missing field 'data_offsets' = [begin, end]");
    }
    SafetensorsEntry entry;
    entry.name = name;
    entry.dtype = value["dtype"].get<std::string>();
    const std::size_t element_bytes = safetensors_dtype_size(entry.dtype);
    if (element_bytes == 0) {
        fail_entry(
            source, name,
            fmt::format("unknown dtype '{}', expected one of BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, "
                        "U16, F16, BF16, I32, U32, F32, I64, U64, F64",
                        entry.dtype));
    }
    std::uint64_t numel = 1;
    for (const json& extent : value["shape"]) {
        const auto parsed = as_offset(extent);
        if (!parsed) {
            fail_entry(source, name,
                       fmt::format("shape {} has an extent that is not a non-negative integer",
                                   value["shape"].dump()));
        }
        const std::uint64_t e = *parsed;
        if (e > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
            (e != 0 && numel > std::numeric_limits<std::uint64_t>::max() / element_bytes / e)) {
            fail_entry(source, name, fmt::format("shape {} is too large", value["shape"].dump()));
        }
        numel *= e;
        entry.shape.push_back(static_cast<std::int64_t>(e));
    }
    const auto begin = as_offset(value["data_offsets"][0]);
    const auto end = as_offset(value["data_offsets"][1]);
    if (!begin || !end) {
        fail_entry(source, name,
                   fmt::format("data_offsets {} must be two non-negative integers",
                               value["data_offsets"].dump()));
    }
    entry.begin = *begin;
    entry.end = *end;
    if (entry.begin > entry.end || entry.end > data_bytes) {
        fail_entry(
            source, name,
            fmt::format("data_offsets [{}, {}] out of range: the data section holds {} bytes",
                        entry.begin, entry.end, data_bytes));
    }
    if (entry.end - entry.begin != numel * element_bytes) {
        fail_entry(source, name,
                   fmt::format("data_offsets [{}, {}] span {} bytes, but shape {} of {} needs {}",
                               entry.begin, entry.end, entry.end - entry.begin,
                               shape_string(entry.shape), entry.dtype, numel * element_bytes));
    }
    return entry;
}

json parse_header_json(const std::string& source, std::string_view text) {
    std::set<std::string> names;
    std::string duplicate;
    auto note_keys = [&](int depth, json::parse_event_t event, json& parsed) {
        if (event == json::parse_event_t::key && depth == 1 && parsed.is_string()) {
            if (!names.insert(parsed.get<std::string>()).second && duplicate.empty()) {
                duplicate = parsed.get<std::string>();
            }
        }
        return true;
    };
    json header;
    try {
        header = json::parse(text.begin(), text.end(), note_keys);
    } catch (const json::exception& e) {
        fail("{}: header is not valid JSON: {}", source, e.what());
    }
    if (!duplicate.empty()) fail("{}: tensor '{}' appears twice in the header", source, duplicate);
    if (!header.is_object()) {
        fail("{}: header is JSON {}, expected an object", source, header.type_name());
    }
    return header;
}

}  // namespace

std::size_t safetensors_dtype_size(std::string_view dtype) {
    for (const auto& [name, size] : kDTypeSizes) {
        if (name == dtype) return size;
    }
    return 0;
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
    return parse(MappedFile::open(path), path);
}

SafetensorsFile SafetensorsFile::parse(std::shared_ptr<const MappedFile> bytes,
                                       std::string source) {
    SafetensorsFile file;
    file.source_ = std::move(source);
    file.bytes_ = std::move(bytes);
    const std::string& src = file.source_;
    const std::uint64_t size = file.bytes_->size();
    if (size < 8) {
        fail(
            "{}: file is {} bytes, too short for a safetensors file (it starts with an 8-byte "
            "header length)",
            src, size);
    }
    const std::uint64_t n = read_u64_le(file.bytes_->data());
    if (n > kSafetensorsMaxHeaderBytes) {
        fail("{}: header length {} exceeds the format's limit of {} bytes", src, n,
             kSafetensorsMaxHeaderBytes);
    }
    if (n > size - 8) {
        fail(
            "{}: header length {} reaches beyond the end of the file ({} bytes follow the "
            "length)",
            src, n, size - 8);
    }
    file.header_bytes_ = n;
    const std::string_view text(reinterpret_cast<const char*>(file.bytes_->data()) + 8, n);
    const json header = parse_header_json(src, text);
    const std::uint64_t data_bytes = size - 8 - n;
    for (const auto& [key, value] : header.items()) {
        if (key != "__metadata__") {
            file.entries_.push_back(parse_entry(src, key, value, data_bytes));
            continue;
        }
        if (!value.is_object())
            fail("{}: __metadata__ is JSON {}, expected an object", src, value.type_name());
        for (const auto& [meta_key, meta_value] : value.items()) {
            if (!meta_value.is_string()) {
                fail("{}: __metadata__ value of '{}' is JSON {}, expected a string", src, meta_key,
                     meta_value.type_name());
            }
            file.metadata_[meta_key] = meta_value.get<std::string>();
        }
    }
    auto& entries = file.entries_;
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
        return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
    });
    const SafetensorsEntry* previous = nullptr;
    for (const auto& entry : entries) {
        if (entry.begin == entry.end) continue;  // empty tensors occupy no bytes
        if (previous != nullptr && entry.begin < previous->end) {
            fail("{}: tensors '{}' [{}, {}] and '{}' [{}, {}] overlap", src, previous->name,
                 previous->begin, previous->end, entry.name, entry.begin, entry.end);
        }
        previous = &entry;
    }
    return file;
}

const SafetensorsEntry* SafetensorsFile::find(std::string_view name) const {
    for (const auto& entry : entries_) {
        if (entry.name == name) return &entry;
    }
    return nullptr;
}

const SafetensorsEntry& SafetensorsFile::entry(std::string_view name) const {
    if (const auto* found = find(name)) return *found;
    std::vector<std::string_view> names;
    for (std::size_t i = 0; i < entries_.size() && i < 8; ++i) names.push_back(entries_[i].name);
    fail("{}: no tensor named '{}' (it holds {} tensors: {}{})", source_, name, entries_.size(),
         fmt::join(names, ", "), entries_.size() > names.size() ? ", ..." : "");
}

Tensor SafetensorsFile::load(std::string_view name) const {
    const auto& e = entry(name);
    const unsigned char* src = bytes_->data() + 8 + header_bytes_ + e.begin;
    const std::size_t bytes = e.end - e.begin;
    if (const auto dtype = native_float_dtype(e.dtype)) {
        Tensor out = Tensor::empty(e.shape, *dtype);
        bytes_->copy_to(out.raw_data(), 8 + header_bytes_ + e.begin, bytes);
        return out;
    }
    if (e.dtype == "F16" || e.dtype == "BF16") {
        Tensor out = Tensor::empty(e.shape, DType::F32);
        float* dst = out.data<float>();
        const bool brain = e.dtype == "BF16";
        for (std::size_t i = 0; i < bytes / 2; ++i) {
            std::uint16_t bits = 0;
            std::memcpy(&bits, src + 2 * i, 2);
            dst[i] = brain ? bfloat16_to_float(bits) : float16_to_float(bits);
        }
        return out;
    }
    fail("{}: tensor '{}' has dtype {}; structseq loads F32, F64, F16 and BF16", source_, e.name,
         e.dtype);
}

Tensor SafetensorsFile::load(std::string_view name, DType dtype) const {
    check_argument(dtype == DType::F32 || dtype == DType::F64, "SafetensorsFile::load", "dtype",
                   dtype_name(dtype), "float32 or float64");
    return load(name).to(dtype);
}

Tensor SafetensorsFile::view(std::string_view name) const {
    const auto& e = entry(name);
    const auto dtype = native_float_dtype(e.dtype);
    if (!dtype) {
        fail(
            "{}: tensor '{}' has dtype {}; only F32 and F64 tensors can be viewed without a copy, "
            "use load()",
            source_, e.name, e.dtype);
    }
    unsigned char* src = const_cast<unsigned char*>(bytes_->data()) + 8 + header_bytes_ + e.begin;
    const std::size_t element_bytes = safetensors_dtype_size(e.dtype);
    if (reinterpret_cast<std::uintptr_t>(src) % element_bytes != 0) {
        fail("{}: tensor '{}' is not {}-byte aligned in the file; use load()", source_, e.name,
             element_bytes);
    }
    return Tensor::borrow(src, e.shape, *dtype, bytes_);
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
    std::set<std::string> names;
    for (const auto& [name, tensor] : tensors) {
        check_argument(!name.empty() && name != "__metadata__", "save_safetensors", "a tensor name",
                       fmt::format("'{}'", name), "a non-empty name other than __metadata__");
        check_argument(names.insert(name).second, "save_safetensors", "tensor name",
                       fmt::format("'{}'", name), "unique names");
        check_argument(
            tensor.defined() && (tensor.dtype() == DType::F32 || tensor.dtype() == DType::F64),
            "save_safetensors", fmt::format("tensor '{}'", name),
            tensor.defined() ? fmt::format("of dtype {}", dtype_name(tensor.dtype()))
                             : std::string("undefined"),
            "float32 or float64");
    }
    // Wider elements first, so every tensor stays aligned to its element size without gaps.
    std::vector<std::size_t> order(tensors.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return dtype_size(tensors[a].second.dtype()) > dtype_size(tensors[b].second.dtype());
    });
    json header = json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    std::uint64_t offset = 0;
    for (std::size_t i : order) {
        const auto& [name, tensor] = tensors[i];
        const std::uint64_t bytes = tensor.nbytes();
        header[name] = {{"dtype", tensor.dtype() == DType::F32 ? "F32" : "F64"},
                        {"shape", tensor.shape()},
                        {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    const std::uint64_t length = text.size();
    write_file_atomic(path, [&](int fd) {
        write_all(fd, &length, sizeof length, path);
        write_all(fd, text.data(), text.size(), path);
        for (std::size_t i : order) {
            const Tensor data = tensors[i].second.contiguous();
            write_all(fd, data.raw_data(), data.nbytes(), path);
        }
    });
}

}  // namespace structseq::io
