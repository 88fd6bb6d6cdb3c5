#include "structseq/ssm/causal_conv.h"

#include "ssm/direct_convolution.h"
#include "ssm/eigen_tensor.h"
#include "ssm/fft.h"
#include "ssm/fft_convolution.h"
#include "structseq/core/error.h"

#include <cmath>
#include <numeric>
#include <vector>

namespace structseq {

namespace {

using namespace ssm_detail;

// "auto": FFT, except for fewer than 8 channels (where the FFT's column vectors are narrow and
// the direct loop runs along time) up to L · min(L, Lk) = 2^22 taps per row, the crossover
// measured in docs/ssm.md (L ≈ 2048 for a full-length kernel; with 8 or more channels the FFT
// was faster from L = 16).
constexpr double kDirectTapsPerRow = 4194304.0;

// True for FFT, false for direct.
bool use_fft(std::string_view where, std::string_view method, std::int64_t L, std::int64_t Lk,
             std::int64_t H) {
    if (method == "direct") return false;
    if (method == "fft") return true;
    if (method != "auto") {
        fail_argument(where, "method", fmt::format("\"{}\"", method),
                      "\"direct\", \"fft\" or \"auto\"");
    }
    const double taps = static_cast<double>(L) * static_cast<double>(std::min(L, Lk));
    return H >= 8 || taps > kDirectTapsPerRow;
}

struct Geometry {
    std::int64_t batch, L, H, Lk;
    bool shared;  // K is (Lk,)
};

Geometry check_inputs(std::string_view where, const Tensor& u, const Tensor& K) {
    check_numeric(u, where, "u");
    check_numeric(K, where, "K");
    check_argument(!is_complex(u.dtype()), where, "u",
                   "dtype " + std::string(dtype_name(u.dtype())), "a real array");
    check_argument(!is_complex(K.dtype()), where, "K",
                   "dtype " + std::string(dtype_name(K.dtype())), "a real array");
    check_argument(u.rank() == 3, where, "u", "shape " + shape_string(u.shape()),
                   "(B, L, H): batch, time, channels");
    Geometry g{u.dim(0), u.dim(1), u.dim(2), K.rank() >= 1 ? K.dim(0) : 0, K.rank() == 1};
    check_argument((K.rank() == 1 || (K.rank() == 2 && K.dim(1) == g.H)) && g.Lk >= 1, where, "K",
                   "shape " + shape_string(K.shape()),
                   fmt::format("(Lk, {}) or (Lk,) with Lk >= 1", g.H));
    return g;
}

// (B, L, H) → rows (B·H, L) in float64, time reversed when `reverse`.
std::vector<double> to_rows(const Tensor& input, const Geometry& g, bool reverse) {
    const Tensor d = input.contiguous().to(DType::F64);
    const double* x = d.data<double>();
    std::vector<double> rows(static_cast<std::size_t>(g.batch * g.H * g.L));
    for (std::int64_t b = 0; b < g.batch; ++b) {
        for (std::int64_t t0 = 0; t0 < g.L; ++t0) {
            const std::int64_t t = reverse ? g.L - 1 - t0 : t0;
            for (std::int64_t h = 0; h < g.H; ++h) {
                rows[static_cast<std::size_t>((b * g.H + h) * g.L + t)] =
                    x[(b * g.L + t0) * g.H + h];
            }
        }
    }
    return rows;
}

Tensor from_rows(const std::vector<double>& rows, const Geometry& g, bool reverse, DType dtype) {
    Tensor out({g.batch, g.L, g.H}, DType::F64);
    double* y = out.data<double>();
    for (std::int64_t b = 0; b < g.batch; ++b) {
        for (std::int64_t t0 = 0; t0 < g.L; ++t0) {
            const std::int64_t t = reverse ? g.L - 1 - t0 : t0;
            for (std::int64_t h = 0; h < g.H; ++h) {
                y[(b * g.L + t0) * g.H + h] =
                    rows[static_cast<std::size_t>((b * g.H + h) * g.L + t)];
            }
        }
    }
    return out.to(dtype);
}

// K as kernel rows (kernels, Lk) and the kernel index of each (b, h) row.
std::vector<double> kernel_rows(const Tensor& K, const Geometry& g) {
    const Tensor d = K.contiguous().to(DType::F64);
    const double* k = d.data<double>();
    const std::int64_t kernels = g.shared ? 1 : g.H;
    std::vector<double> rows(static_cast<std::size_t>(kernels * g.Lk));
    for (std::int64_t s = 0; s < g.Lk; ++s) {
        for (std::int64_t h = 0; h < kernels; ++h) {
            rows[static_cast<std::size_t>(h * g.Lk + s)] = k[s * kernels + h];
        }
    }
    return rows;
}

std::vector<std::int64_t> kernel_index(const Geometry& g) {
    std::vector<std::int64_t> index(static_cast<std::size_t>(g.batch * g.H));
    for (std::size_t j = 0; j < index.size(); ++j) {
        index[j] = g.shared ? 0 : static_cast<std::int64_t>(j) % g.H;
    }
    return index;
}

// K as (Lk, H) in `dtype`: K itself when it already is, a shared (Lk,) kernel repeated for
// every channel.
Tensor kernel_matrix(const Tensor& K, const Geometry& g, DType dtype) {
    if (!g.shared) return K.contiguous().to(dtype);
    const Tensor k = K.contiguous().to(dtype);
    Tensor out = Tensor::empty({g.Lk, g.H}, dtype);
    const auto fill = [&](auto tag) {
        using Real = decltype(tag);
        for (std::int64_t s = 0; s < g.Lk; ++s) {
            std::fill_n(out.data<Real>() + s * g.H, g.H, k.data<Real>()[s]);
        }
    };
    dtype == DType::F32 ? fill(float{}) : fill(double{});
    return out;
}

// Channels per vector of the natural-layout direct kernel; fewer go through rows.
constexpr std::int64_t kChannelLanes = 8;

// Direct: y (or, with `reverse`, the correlation Σ_s K[s] x[t + s]), in float64.
Tensor direct(const Tensor& x, const Tensor& K, const Geometry& g, bool reverse, DType dtype) {
    if (g.H >= kChannelLanes) {
        const Tensor x64 = x.contiguous().to(DType::F64);
        const Tensor k64 = kernel_matrix(K, g, DType::F64);
        Tensor y = Tensor::empty({g.batch, g.L, g.H}, DType::F64);
        direct_convolution_channels(x64.data<double>(), g.batch, g.L, g.H, k64.data<double>(),
                                    std::min(g.L, g.Lk), reverse, y.data<double>());
        return y.to(dtype);
    }
    const std::vector<double> rows = to_rows(x, g, reverse);
    const std::vector<double> k = kernel_rows(K, g);
    const std::vector<std::int64_t> index = kernel_index(g);
    std::vector<double> out(rows.size());
    direct_convolution(rows.data(), g.batch * g.H, g.L, k.data(), g.Lk, index.data(), out.data());
    return from_rows(out, g, reverse, dtype);
}

// FFT path in the result precision: float32 inputs transform in float32.
Tensor through_fft(const Tensor& x, const Tensor& K, const Geometry& g, bool adjoint, DType dtype) {
    const Tensor k = kernel_matrix(K, g, dtype), xc = x.contiguous().to(dtype);
    Tensor y = Tensor::empty({g.batch, g.L, g.H}, dtype);
    const auto run = [&](auto tag) {
        using Real = decltype(tag);
        FftConvolution<Real>(k.data<Real>(), g.Lk, g.H, g.L)
            .convolve(xc.data<Real>(), g.batch, adjoint, y.data<Real>());
    };
    dtype == DType::F32 ? run(float{}) : run(double{});
    return y;
}

}  // namespace

Tensor causal_conv(const Tensor& u, const Tensor& K, std::string_view method) {
    constexpr std::string_view where = "causal_conv";
    const Geometry g = check_inputs(where, u, K);
    const DType dtype = result_dtype({&u, &K}, false);
    if (g.batch * g.L * g.H == 0) return Tensor(u.shape(), dtype);
    return use_fft(where, method, g.L, g.Lk, g.H) ? through_fft(u, K, g, false, dtype)
                                                  : direct(u, K, g, false, dtype);
}

CausalConvGradients causal_conv_backward(const Tensor& dy, const Tensor& u, const Tensor& K,
                                         std::string_view method) {
    constexpr std::string_view where = "causal_conv_backward";
    const Geometry g = check_inputs(where, u, K);
    check_numeric(dy, where, "dy");
    check_argument(dy.shape() == u.shape() && !is_complex(dy.dtype()), where, "dy",
                   "shape " + shape_string(dy.shape()),
                   "a real array shaped like u " + shape_string(u.shape()));
    const DType dtype = result_dtype({&dy, &u, &K}, false);
    const bool fft = use_fft(where, method, g.L, g.Lk, g.H);
    CausalConvGradients grads;
    Tensor dK_columns({g.Lk, g.H}, DType::F64);  // (Lk, H), summed over h for a shared K
    if (g.batch * g.L * g.H == 0) {
        grads.du = Tensor(u.shape(), dtype);
    } else if (fft) {
        grads.du = through_fft(dy, K, g, true, dtype);
        const Tensor dyc = dy.contiguous().to(dtype), uc = u.contiguous().to(dtype);
        Tensor dK = Tensor(dK_columns.shape(), dtype);
        const auto run = [&](auto tag) {
            using Real = decltype(tag);
            FftConvolution<Real>::kernel_gradient(dyc.data<Real>(), uc.data<Real>(), g.batch, g.L,
                                                  g.H, g.Lk, dK.data<Real>());
        };
        dtype == DType::F32 ? run(float{}) : run(double{});
        dK_columns = dK.to(DType::F64);
    } else {
        // du: the correlation with K, as a convolution of reversed rows. dK[s] = Σ_t dy[t]
        // u[t − s]: row j's convolution of reversed dy with u_j as its own kernel, read at
        // L − 1 − s.
        grads.du = direct(dy, K, g, true, dtype);
        if (g.H >= kChannelLanes) {
            const Tensor dy64 = dy.contiguous().to(DType::F64), u64 = u.contiguous().to(DType::F64);
            direct_kernel_gradient_channels(dy64.data<double>(), u64.data<double>(), g.batch, g.L,
                                            g.H, std::min(g.Lk, g.L), dK_columns.data<double>());
        } else {
            const std::vector<double> reversed_dy = to_rows(dy, g, true);
            const std::vector<double> u_rows = to_rows(u, g, false);
            std::vector<std::int64_t> own(static_cast<std::size_t>(g.batch * g.H));
            std::iota(own.begin(), own.end(), std::int64_t{0});
            std::vector<double> z(reversed_dy.size());
            direct_convolution(reversed_dy.data(), g.batch * g.H, g.L, u_rows.data(), g.L,
                               own.data(), z.data());
            double* dk = dK_columns.data<double>();
            for (std::int64_t b = 0; b < g.batch; ++b) {
                for (std::int64_t h = 0; h < g.H; ++h) {
                    const double* row = z.data() + (b * g.H + h) * g.L;
                    for (std::int64_t s = 0; s < std::min(g.Lk, g.L); ++s) {
                        dk[s * g.H + h] += row[g.L - 1 - s];
                    }
                }
            }
        }
    }
    if (!g.shared) {
        grads.dK = dK_columns.to(dtype);
        return grads;
    }
    Tensor dK({g.Lk}, DType::F64);
    for (std::int64_t s = 0; s < g.Lk; ++s) {
        for (std::int64_t h = 0; h < g.H; ++h) {
            dK.data<double>()[s] += dK_columns.data<double>()[s * g.H + h];
        }
    }
    grads.dK = dK.to(dtype);
    return grads;
}

}  // namespace structseq
