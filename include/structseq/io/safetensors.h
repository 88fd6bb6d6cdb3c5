#pragma once
// safetensors (https://huggingface.co/docs/safetensors): an 8-byte little-endian header length N,
// N bytes of JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {}},
// then the tensor bytes, offsets relative to the end of the header.
//
// The reader maps the file and validates everything before any tensor is touched: header length
// within the file (and at most 100 MB), JSON well formed with unique names, known dtypes,
// non-negative shapes whose byte size equals end - begin, offsets inside the data section and
// no two tensors overlapping. Any violation is an Error naming the file and the tensor.
// Tensors of dtype F32, F64, F16 and BF16 load (F16/BF16 widen to float32); the other dtypes
// of the format are listed but refuse to load. The writer is atomic and writes F32 and F64.

#include "structseq/core/tensor.h"
#include "structseq/io/mapped_file.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace structseq::io {

inline constexpr std::uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

struct SafetensorsEntry {
    std::string name;
    std::string dtype;  // the format's spelling: "F32", "BF16", "I64", ...
    Shape shape;
    std::uint64_t begin = 0;  // byte offsets into the data section
    std::uint64_t end = 0;
};

class SafetensorsFile {
public:
    static SafetensorsFile open(const std::string& path);
    static SafetensorsFile parse(std::shared_ptr<const MappedFile> bytes, std::string source);

    const std::string& source() const { return source_; }
    const std::vector<SafetensorsEntry>& entries() const { return entries_; }  // in file order
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    std::uint64_t header_bytes() const { return header_bytes_; }
    std::uint64_t file_bytes() const { return bytes_->size(); }

    const SafetensorsEntry* find(std::string_view name) const;
    const SafetensorsEntry& entry(std::string_view name) const;  // Error when absent

    // A copy in the stored dtype (F16 and BF16 widen to float32).
    Tensor load(std::string_view name) const;
    // A copy converted to `dtype` (float32 or float64).
    Tensor load(std::string_view name, DType dtype) const;
    // No copy: a view of the mapped bytes, for F32/F64 tensors whose bytes are aligned.
    Tensor view(std::string_view name) const;

private:
    std::string source_;
    std::shared_ptr<const MappedFile> bytes_;
    std::uint64_t header_bytes_ = 0;
    std::vector<SafetensorsEntry> entries_;
    std::map<std::string, std::string> metadata_;
};

// Byte size of one element of a safetensors dtype ("F32" → 4); 0 when the dtype is unknown.
std::size_t safetensors_dtype_size(std::string_view dtype);

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace structseq::io
