#pragma once
// Tensor: an n-dimensional view (shape, strides in elements, offset) onto shared storage.
//
// Storage is 64-byte aligned and zero-initialized when the library allocates it, or borrowed
// from elsewhere (a numpy array, a memory-mapped file) with an owner that keeps it alive.
// Views (reshape, narrow, select, transpose) never copy; clone(), contiguous() on a strided
// view and to() are the only operations that do, and they say so in their names.
// Kernels take contiguous tensors; check_contiguous() names the offender when one is not.

#include "structseq/core/error.h"

#include <complex>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace structseq {

enum class DType : std::uint8_t { F32, F64, C64, C128, I8, U8, I32, I64 };

std::size_t dtype_size(DType dtype);
bool is_complex(DType dtype);                  // complex64 or complex128
std::string_view dtype_name(DType dtype);      // numpy spelling: "float32", "complex128", ...
DType dtype_from_name(std::string_view name);  // inverse of dtype_name; Error when unknown
std::optional<DType> find_dtype(
    std::string_view name);  // inverse of dtype_name; empty when unknown

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
    return DType::F32;
}
template <>
constexpr DType dtype_of<double>() {
    return DType::F64;
}
template <>
constexpr DType dtype_of<std::complex<float>>() {
    return DType::C64;
}
template <>
constexpr DType dtype_of<std::complex<double>>() {
    return DType::C128;
}
template <>
constexpr DType dtype_of<std::int8_t>() {
    return DType::I8;
}
template <>
constexpr DType dtype_of<std::uint8_t>() {
    return DType::U8;
}
template <>
constexpr DType dtype_of<std::int32_t>() {
    return DType::I32;
}
template <>
constexpr DType dtype_of<std::int64_t>() {
    return DType::I64;
}

using Shape = std::vector<std::int64_t>;

std::string shape_string(const Shape& shape);  // "(2, 8, 16)"
std::int64_t shape_numel(const Shape& shape);  // Error on negative dims or overflow

inline constexpr std::size_t kTensorAlignment = 64;
// Buffers of at least this many bytes go on 2 MiB boundaries and ask for transparent huge pages.
inline constexpr std::size_t kHugePageBufferBytes = std::size_t{4} << 20;

class Storage {
public:
    // kTensorAlignment-aligned bytes, zeroed unless `zeroed` is false.
    static std::shared_ptr<Storage> allocate(std::size_t bytes, bool zeroed = true);
    // Borrowed bytes; `owner` is released when the last view goes away.
    static std::shared_ptr<Storage> borrow(void* data, std::size_t bytes,
                                           std::shared_ptr<const void> owner);

    void* data() const { return data_; }
    std::size_t bytes() const { return bytes_; }

private:
    Storage(void* data, std::size_t bytes, std::shared_ptr<const void> owner)
        : data_(data), bytes_(bytes), owner_(std::move(owner)) {}
    void* data_;
    std::size_t bytes_;
    std::shared_ptr<const void> owner_;
};

class Tensor {
public:
    Tensor() = default;                // undefined: defined() is false
    Tensor(Shape shape, DType dtype);  // zero-filled, contiguous
    // Contiguous with unspecified contents: for outputs that are overwritten in full.
    static Tensor empty(Shape shape, DType dtype);

    // View of external contiguous memory of `shape` and `dtype`, kept alive by `owner`.
    static Tensor borrow(void* data, Shape shape, DType dtype, std::shared_ptr<const void> owner);

    bool defined() const { return storage_ != nullptr; }
    DType dtype() const { return dtype_; }
    const Shape& shape() const { return shape_; }
    const Shape& strides() const { return strides_; }  // in elements
    int rank() const { return static_cast<int>(shape_.size()); }
    std::int64_t dim(int axis) const;  // negative axes count from the end
    std::int64_t numel() const;
    std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype_); }
    bool is_contiguous() const;
    const std::shared_ptr<Storage>& storage() const { return storage_; }
    bool shares_storage_with(const Tensor& other) const { return storage_ == other.storage_; }

    void* raw_data() const;
    template <class T>
    T* data() const {
        check_dtype(dtype_of<T>(), "data");
        return static_cast<T*>(raw_data());
    }
    // Element access by full index, for tests and small loops, not for kernels.
    template <class T>
    T& at(std::initializer_list<std::int64_t> index) const {
        check_dtype(dtype_of<T>(), "at");
        return static_cast<T*>(storage_->data())[element_offset(index)];
    }

    // Views: no copy.
    Tensor reshape(Shape shape) const;  // contiguous only; one dimension may be -1
    Tensor narrow(int axis, std::int64_t start, std::int64_t length) const;
    Tensor select(int axis, std::int64_t index) const;  // drops the axis
    Tensor transpose(int axis0, int axis1) const;

    // Copies.
    Tensor clone() const;          // contiguous deep copy
    Tensor contiguous() const;     // *this when already contiguous, else clone()
    Tensor to(DType dtype) const;  // converted contiguous copy (*this when dtype already matches)

    void check_dtype(DType expected, std::string_view where) const;
    void check_contiguous(std::string_view where, std::string_view argument) const;

private:
    // A contiguous view of all of `storage`.
    Tensor(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype);
    static std::size_t bytes_for(const Shape& shape, DType dtype);

    int normalize_axis(int axis, std::string_view where) const;
    std::int64_t element_offset(std::initializer_list<std::int64_t> index) const;

    std::shared_ptr<Storage> storage_;
    std::int64_t offset_ = 0;  // in elements
    Shape shape_;
    Shape strides_;
    DType dtype_ = DType::F32;
};

// "where: argument has shape (2, 8, 16), expected (2, 8, 64)". A -1 in `expected` matches any
// extent and prints as '*'.
void check_shape(std::string_view where, std::string_view argument, const Tensor& tensor,
                 const Shape& expected);

}  // namespace structseq
