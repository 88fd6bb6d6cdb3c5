#include "structseq/core/tensor.h"

#include "core/buffer_cache.h"
#include "structseq/core/memory_stats.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <numeric>

#include <sys/mman.h>

namespace structseq {

namespace {

struct DTypeInfo {
    DType dtype;
    std::string_view name;
    std::size_t size;
};

constexpr std::array<DTypeInfo, 8> kDTypes = {{
    {DType::F32, "float32", 4},
    {DType::F64, "float64", 8},
    {DType::C64, "complex64", 8},
    {DType::C128, "complex128", 16},
    {DType::I8, "int8", 1},
    {DType::U8, "uint8", 1},
    {DType::I32, "int32", 4},
    {DType::I64, "int64", 8},
}};

const DTypeInfo& info_of(DType dtype) {
    return kDTypes.at(static_cast<std::size_t>(dtype));
}

Shape contiguous_strides(const Shape& shape) {
    Shape strides(shape.size());
    std::int64_t stride = 1;
    for (std::size_t i = shape.size(); i-- > 0;) {
        strides[i] = stride;
        stride *= shape[i];
    }
    return strides;
}

// Calls fn(dst_index, src_offset) for every element of a strided view, in row-major order.
template <class Fn>
void for_each_offset(const Shape& shape, const Shape& strides, std::int64_t offset, Fn&& fn) {
    const std::int64_t n = shape_numel(shape);
    if (n == 0) return;
    Shape index(shape.size(), 0);
    std::int64_t src = offset;
    for (std::int64_t i = 0; i < n; ++i) {
        fn(i, src);
        for (std::size_t d = shape.size(); d-- > 0;) {
            if (++index[d] < shape[d]) {
                src += strides[d];
                break;
            }
            src -= strides[d] * (shape[d] - 1);
            index[d] = 0;
        }
    }
}

template <class To, class From>
To convert_value(From value) {
    if constexpr (std::is_same_v<To, From>) {
        return value;
    } else if constexpr (requires { value.real(); }) {
        if constexpr (requires(To t) { t.real(); }) {
            return To(static_cast<typename To::value_type>(value.real()),
                      static_cast<typename To::value_type>(value.imag()));
        } else {
            return static_cast<To>(value.real());  // unreachable: refused by Tensor::to
        }
    } else if constexpr (requires(To t) { t.real(); }) {
        return To(static_cast<typename To::value_type>(value));
    } else {
        return static_cast<To>(value);
    }
}

template <class Fn>
decltype(auto) visit_dtype(DType dtype, Fn&& fn) {
    switch (dtype) {
        case DType::F32:
            return fn(float{});
        case DType::F64:
            return fn(double{});
        case DType::C64:
            return fn(std::complex<float>{});
        case DType::C128:
            return fn(std::complex<double>{});
        case DType::I8:
            return fn(std::int8_t{});
        case DType::U8:
            return fn(std::uint8_t{});
        case DType::I32:
            return fn(std::int32_t{});
        case DType::I64:
            return fn(std::int64_t{});
    }
    fail("internal error: unknown dtype {}", static_cast<int>(dtype));
}

}  // namespace

bool is_complex(DType dtype) {
    return dtype == DType::C64 || dtype == DType::C128;
}

std::size_t dtype_size(DType dtype) {
    return info_of(dtype).size;
}
std::string_view dtype_name(DType dtype) {
    return info_of(dtype).name;
}

std::optional<DType> find_dtype(std::string_view name) {
    for (const auto& info : kDTypes) {
        if (info.name == name) return info.dtype;
    }
    return std::nullopt;
}

DType dtype_from_name(std::string_view name) {
    if (const auto dtype = find_dtype(name)) return *dtype;
    fail(
        "dtype: unknown dtype '{}', expected one of float32, float64, complex64, complex128, "
        "int8, uint8, int32, int64",
        name);
}

std::string shape_string(const Shape& shape) {
    if (shape.size() == 1) return fmt::format("({},)", shape[0]);
    return fmt::format("({})", fmt::join(shape, ", "));
}

std::int64_t shape_numel(const Shape& shape) {
    std::int64_t n = 1;
    for (std::int64_t extent : shape) {
        if (extent < 0) fail("shape {} has a negative extent", shape_string(shape));
        if (extent != 0 && n > std::numeric_limits<std::int64_t>::max() / extent) {
            fail("shape {} has more elements than fit in 64 bits", shape_string(shape));
        }
        n *= extent;
    }
    return n;
}

std::shared_ptr<Storage> Storage::allocate(std::size_t bytes, bool zeroed) {
    // Large buffers go on 2 MiB boundaries and ask for transparent huge pages: first touch then
    // faults once per 2 MiB instead of once per 4 KiB (numpy does the same). Freed, buffers of
    // 256 KiB or more wait in the buffer cache for the next allocation of their size (glibc
    // returns those to the kernel, and takes them back zero-filled page by page).
    constexpr std::size_t kHugePage = std::size_t{2} << 20;
    constexpr std::size_t kCached = std::size_t{256} << 10;
    const bool huge = bytes >= kHugePageBufferBytes, cached = bytes >= kCached;
    const std::size_t alignment = huge ? kHugePage : kTensorAlignment;
    const std::size_t rounded =
        (std::max<std::size_t>(bytes, 1) + alignment - 1) / alignment * alignment;
    void* data = cached ? detail::take_cached_buffer(rounded) : nullptr;
    if (data == nullptr) {
        data = std::aligned_alloc(alignment, rounded);
        if (data == nullptr) fail("Tensor: cannot allocate {} bytes", bytes);
        if (huge) ::madvise(data, rounded, MADV_HUGEPAGE);
    }
    if (zeroed) std::memset(data, 0, rounded);
    const auto counted = static_cast<std::int64_t>(rounded);
    detail::record_tensor_allocation(counted);
    std::shared_ptr<const void> owner(data, [counted, cached](const void* p) {
        detail::record_tensor_allocation(-counted);
        if (cached) {
            detail::release_buffer(const_cast<void*>(p), static_cast<std::size_t>(counted));
        } else {
            std::free(const_cast<void*>(p));
        }
    });
    return std::shared_ptr<Storage>(new Storage(data, bytes, std::move(owner)));
}

std::shared_ptr<Storage> Storage::borrow(void* data, std::size_t bytes,
                                         std::shared_ptr<const void> owner) {
    return std::shared_ptr<Storage>(new Storage(data, bytes, std::move(owner)));
}

std::size_t Tensor::bytes_for(const Shape& shape, DType dtype) {
    return static_cast<std::size_t>(shape_numel(shape)) * dtype_size(dtype);
}

Tensor::Tensor(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype)
    : storage_(std::move(storage)),
      shape_(shape),
      strides_(contiguous_strides(shape)),
      dtype_(dtype) {}

Tensor::Tensor(Shape shape, DType dtype)
    : Tensor(Storage::allocate(bytes_for(shape, dtype)), shape, dtype) {}

Tensor Tensor::empty(Shape shape, DType dtype) {
    return Tensor(Storage::allocate(bytes_for(shape, dtype), false), shape, dtype);
}

Tensor Tensor::borrow(void* data, Shape shape, DType dtype, std::shared_ptr<const void> owner) {
    return Tensor(Storage::borrow(data, bytes_for(shape, dtype), std::move(owner)), shape, dtype);
}

std::int64_t Tensor::dim(int axis) const {
    return shape_[normalize_axis(axis, "Tensor::dim")];
}

std::int64_t Tensor::numel() const {
    return shape_numel(shape_);
}

bool Tensor::is_contiguous() const {
    std::int64_t expected = 1;
    for (std::size_t i = shape_.size(); i-- > 0;) {
        if (shape_[i] != 1 && strides_[i] != expected) return false;
        expected *= shape_[i];
    }
    return true;
}

void* Tensor::raw_data() const {
    if (!storage_) fail("Tensor: access to the data of an undefined tensor");
    return static_cast<char*>(storage_->data()) +
           offset_ * static_cast<std::int64_t>(dtype_size(dtype_));
}

int Tensor::normalize_axis(int axis, std::string_view where) const {
    const int n = rank();
    if (axis < -n || axis >= n) {
        fail_argument(
            where, "axis", std::to_string(axis),
            fmt::format("in [{}, {}) for a tensor of shape {}", -n, n, shape_string(shape_)));
    }
    return axis < 0 ? axis + n : axis;
}

std::int64_t Tensor::element_offset(std::initializer_list<std::int64_t> index) const {
    if (static_cast<int>(index.size()) != rank()) {
        fail("Tensor::at: {} indices for a tensor of rank {}", index.size(), rank());
    }
    std::int64_t offset = offset_;
    int axis = 0;
    for (std::int64_t i : index) {
        if (i < 0 || i >= shape_[axis]) {
            fail("Tensor::at: index {} out of range for axis {} of shape {}", i, axis,
                 shape_string(shape_));
        }
        offset += i * strides_[axis];
        ++axis;
    }
    return offset;
}

Tensor Tensor::reshape(Shape shape) const {
    if (!is_contiguous()) {
        fail(
            "Tensor::reshape: a view of shape {} with strides {} is not contiguous; call "
            "contiguous() first",
            shape_string(shape_), shape_string(strides_));
    }
    int inferred = -1;
    std::int64_t known = 1;
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (shape[i] == -1 && inferred < 0) {
            inferred = static_cast<int>(i);
        } else if (shape[i] < 0) {
            fail_argument("Tensor::reshape", "shape", shape_string(shape),
                          "non-negative extents with at most one -1");
        } else {
            known *= shape[i];
        }
    }
    if (inferred >= 0) {
        if (known == 0 || numel() % known != 0) {
            fail("Tensor::reshape: cannot infer the -1 in {} for {} elements", shape_string(shape),
                 numel());
        }
        shape[inferred] = numel() / known;
    }
    if (shape_numel(shape) != numel()) {
        fail("Tensor::reshape: shape {} has {} elements, expected {} (from shape {})",
             shape_string(shape), shape_numel(shape), numel(), shape_string(shape_));
    }
    Tensor view = *this;
    view.shape_ = std::move(shape);
    view.strides_ = contiguous_strides(view.shape_);
    return view;
}

Tensor Tensor::narrow(int axis, std::int64_t start, std::int64_t length) const {
    const int a = normalize_axis(axis, "Tensor::narrow");
    if (start < 0 || length < 0 || start + length > shape_[a]) {
        fail("Tensor::narrow: range [{}, {}) out of bounds for axis {} of extent {}", start,
             start + length, a, shape_[a]);
    }
    Tensor view = *this;
    view.offset_ += start * strides_[a];
    view.shape_[a] = length;
    return view;
}

Tensor Tensor::select(int axis, std::int64_t index) const {
    const int a = normalize_axis(axis, "Tensor::select");
    if (index < 0 || index >= shape_[a]) {
        fail("Tensor::select: index {} out of range for axis {} of extent {}", index, a, shape_[a]);
    }
    Tensor view = *this;
    view.offset_ += index * strides_[a];
    view.shape_.erase(view.shape_.begin() + a);
    view.strides_.erase(view.strides_.begin() + a);
    return view;
}

Tensor Tensor::transpose(int axis0, int axis1) const {
    const int a = normalize_axis(axis0, "Tensor::transpose");
    const int b = normalize_axis(axis1, "Tensor::transpose");
    Tensor view = *this;
    std::swap(view.shape_[a], view.shape_[b]);
    std::swap(view.strides_[a], view.strides_[b]);
    return view;
}

Tensor Tensor::clone() const {
    if (!defined()) fail("Tensor::clone: the tensor is undefined");
    Tensor out = empty(shape_, dtype_);
    const auto size = static_cast<std::int64_t>(dtype_size(dtype_));
    const char* src = static_cast<const char*>(storage_->data());
    char* dst = static_cast<char*>(out.raw_data());
    if (is_contiguous()) {
        std::memcpy(dst, src + offset_ * size, nbytes());
        return out;
    }
    for_each_offset(shape_, strides_, offset_, [&](std::int64_t i, std::int64_t s) {
        std::memcpy(dst + i * size, src + s * size, static_cast<std::size_t>(size));
    });
    return out;
}

Tensor Tensor::contiguous() const {
    return is_contiguous() ? *this : clone();
}

Tensor Tensor::to(DType dtype) const {
    if (!defined()) fail("Tensor::to: the tensor is undefined");
    if (dtype == dtype_) return *this;
    if (is_complex(dtype_) && !is_complex(dtype)) {
        fail(
            "Tensor::to: converting {} to {} would drop the imaginary part; take the real part "
            "explicitly",
            dtype_name(dtype_), dtype_name(dtype));
    }
    Tensor out = empty(shape_, dtype);
    visit_dtype(dtype_, [&](auto src_tag) {
        using From = decltype(src_tag);
        const From* src = static_cast<const From*>(storage_->data());
        visit_dtype(dtype, [&](auto dst_tag) {
            using To = decltype(dst_tag);
            To* dst = static_cast<To*>(out.raw_data());
            for_each_offset(shape_, strides_, offset_, [&](std::int64_t i, std::int64_t s) {
                dst[i] = convert_value<To>(src[s]);
            });
        });
    });
    return out;
}

void Tensor::check_dtype(DType expected, std::string_view where) const {
    if (!defined()) fail("{}: the tensor is undefined", where);
    if (dtype_ != expected) {
        fail("{}: tensor has dtype {}, expected {}", where, dtype_name(dtype_),
             dtype_name(expected));
    }
}

void Tensor::check_contiguous(std::string_view where, std::string_view argument) const {
    if (!is_contiguous()) {
        fail("{}: {} of shape {} is a strided view (strides {}), expected a contiguous tensor",
             where, argument, shape_string(shape_), shape_string(strides_));
    }
}

void check_shape(std::string_view where, std::string_view argument, const Tensor& tensor,
                 const Shape& expected) {
    bool ok = tensor.rank() == static_cast<int>(expected.size());
    for (std::size_t i = 0; ok && i < expected.size(); ++i) {
        ok = expected[i] < 0 || expected[i] == tensor.shape()[i];
    }
    if (ok) return;
    std::vector<std::string> parts;
    for (std::int64_t e : expected) parts.push_back(e < 0 ? "*" : std::to_string(e));
    const std::string want = parts.size() == 1 ? fmt::format("({},)", parts[0])
                                               : fmt::format("({})", fmt::join(parts, ", "));
    fail("{}: {} has shape {}, expected {}", where, argument, shape_string(tensor.shape()), want);
}

}  // namespace structseq
