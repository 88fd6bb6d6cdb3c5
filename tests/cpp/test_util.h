#pragma once
// Helpers shared by the C++ tests.

#include "structseq/core/error.h"
#include "structseq/core/rng.h"
#include "structseq/core/tensor.h"
#include "structseq/core/threads.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

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

// Tensors from plain vectors and back (float64), random normal tensors, relative errors.
inline Tensor tensor_of(const std::vector<double>& values, Shape shape) {
    Tensor t(std::move(shape), DType::F64);
    std::copy(values.begin(), values.end(), t.data<double>());
    return t;
}

inline std::vector<double> values_of(const Tensor& t) {
    const Tensor d = t.contiguous().to(DType::F64);
    return {d.data<double>(), d.data<double>() + d.numel()};
}

inline Tensor normal_tensor(Shape shape, std::uint64_t seed, double scale = 1.0) {
    Tensor t(std::move(shape), DType::F64);
    Rng(seed).normal(t, 0.0, scale);
    return t;
}

// ‖x − y‖ / ‖y‖
inline double relative_error(const std::vector<double>& x, const std::vector<double>& y) {
    double num = 0, den = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        num += (x[i] - y[i]) * (x[i] - y[i]);
        den += y[i] * y[i];
    }
    return std::sqrt(num / std::max(den, 1e-300));
}

// Σ_k a_k b_k, in float64.
inline double dot(const Tensor& a, const Tensor& b) {
    const std::vector<double> x = values_of(a), y = values_of(b);
    double sum = 0;
    for (std::size_t k = 0; k < x.size(); ++k) sum += x[k] * y[k];
    return sum;
}

// max over the entries k of x of |(ℓ(x + h e_k) − ℓ(x − h e_k)) / 2h − grad_k|: a float64
// gradient against central differences; x is changed in place and restored.
template <class Loss>
double worst_central_difference(Tensor& x, const Tensor& grad, Loss loss, double h = 1e-6) {
    double worst = 0;
    for (std::int64_t k = 0; k < x.numel(); ++k) {
        const double keep = x.data<double>()[k];
        x.data<double>()[k] = keep + h;
        const double up = loss();
        x.data<double>()[k] = keep - h;
        const double down = loss();
        x.data<double>()[k] = keep;
        worst = std::max(worst, std::abs((up - down) / (2 * h) - grad.data<double>()[k]));
    }
    return worst;
}

// (ℓ(x + h d) − ℓ(x − h d)) / 2h along a direction d (float64 tensors shaped alike): checks a
// gradient's projection ⟨grad, d⟩ with two evaluations. `loss` takes the shifted tensor.
template <class Loss>
double directional_difference(const Tensor& x, const Tensor& direction, Loss loss,
                              double h = 1e-6) {
    const auto shifted = [&](double s) {
        Tensor y = x.clone();
        for (std::int64_t k = 0; k < y.numel(); ++k)
            y.data<double>()[k] += s * direction.data<double>()[k];
        return y;
    };
    return (loss(shifted(h)) - loss(shifted(-h))) / (2 * h);
}

// Sets the library's thread count for a scope and restores the previous one, also when an
// assertion leaves the test early.
class ThreadCount {
public:
    explicit ThreadCount(int threads) : saved_(num_threads()) { set_num_threads(threads); }
    ~ThreadCount() { set_num_threads(saved_); }
    ThreadCount(const ThreadCount&) = delete;
    ThreadCount& operator=(const ThreadCount&) = delete;

private:
    int saved_;
};

// The largest |y − (x Wᵀ + b)| over y (m × out), the reference formed by a plain float64 loop;
// x (m × in), W (out × in), b (out) or null, any float dtype.
inline double largest_linear_error(const Tensor& x, const Tensor& W, const Tensor* b,
                                   const Tensor& y) {
    const std::int64_t m = x.dim(0), in = x.dim(1), out = W.dim(0);
    const std::vector<double> xs = values_of(x), ws = values_of(W), ys = values_of(y);
    const std::vector<double> bs = b != nullptr ? values_of(*b) : std::vector<double>(static_cast<std::size_t>(out), 0.0);
    double worst = 0;
    for (std::int64_t r = 0; r < m; ++r) {
        for (std::int64_t o = 0; o < out; ++o) {
            double expected = bs[o];
            for (std::int64_t k = 0; k < in; ++k) expected += xs[r * in + k] * ws[o * in + k];
            worst = std::max(worst, std::abs(ys[r * out + o] - expected));
        }
    }
    return worst;
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
