#pragma once
// NumPy .npy files, format versions 1.0, 2.0 and 3.0, little-endian, C order: float32, float64,
// complex64, complex128, int8, uint8, int32 and int64. Writes are atomic (version 1.0 header,
// padded so the data starts on a 64-byte boundary).

#include "structseq/core/tensor.h"
#include "structseq/io/mapped_file.h"

#include <memory>
#include <string>

namespace structseq::io {

struct NpyHeader {
    DType dtype = DType::F32;
    Shape shape;
    std::size_t data_offset = 0;  // bytes from the start of the file
    int major_version = 1;
};

NpyHeader parse_npy_header(const MappedFile& bytes, const std::string& source);
Tensor load_npy(const std::string& path);
void save_npy(const std::string& path, const Tensor& tensor);

}  // namespace structseq::io
