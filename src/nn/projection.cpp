#include "structseq/nn/projection.h"

#include "structseq/core/error.h"
#include "structseq/core/rng.h"
#include "structseq/nn/linear.h"

#include "linalg/blas.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace structseq {

namespace {

constexpr std::string_view kWhere = "projection";

// Kept input columns of block row i, gathered: xg (M, keep·bs) from x (M, in).
template <class Real>
void gather_columns(const Real* x, std::int64_t m, std::int64_t in, const std::int64_t* cols,
                    std::int64_t keep, std::int64_t bs, Real* xg) {
    for (std::int64_t r = 0; r < m; ++r) {
        for (std::int64_t j = 0; j < keep; ++j) {
            std::copy_n(x + r * in + cols[j] * bs, bs, xg + (r * keep + j) * bs);
        }
    }
}

template <class Real>
void block_sparse_forward(const Projection& p, const Tensor& x, Tensor& y) {
    const std::int64_t m = x.dim(0), in = x.dim(1), out = y.dim(1);
    const std::int64_t rows = p.blocks.dim(0), bs = p.blocks.dim(1), keep = p.block_cols.dim(1);
    std::vector<Real> xg(static_cast<std::size_t>(m * keep * bs));
    for (std::int64_t i = 0; i < rows; ++i) {
        gather_columns(x.data<Real>(), m, in, p.block_cols.data<std::int64_t>() + i * keep, keep,
                       bs, xg.data());
        blas::gemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, bs, keep * bs, Real(1), xg.data(),
                   keep * bs, p.blocks.data<Real>() + i * bs * keep * bs, keep * bs, Real(1),
                   y.data<Real>() + i * bs, out);
    }
}

template <class Real>
void block_sparse_backward(const Projection& p, const Tensor& dy, const Tensor& x, Tensor& dx,
                           Projection& g) {
    const std::int64_t m = x.dim(0), in = x.dim(1), out = dy.dim(1);
    const std::int64_t rows = p.blocks.dim(0), bs = p.blocks.dim(1), keep = p.block_cols.dim(1);
    std::vector<Real> xg(static_cast<std::size_t>(m * keep * bs)), dxg(xg.size());
    Real* pdx = dx.data<Real>();
    for (std::int64_t i = 0; i < rows; ++i) {
        const std::int64_t* cols = p.block_cols.data<std::int64_t>() + i * keep;
        const Real* W = p.blocks.data<Real>() + i * bs * keep * bs;
        gather_columns(x.data<Real>(), m, in, cols, keep, bs, xg.data());
        // dW_i += dy_iᵀ xg,  dxg = dy_i W_i, scattered back to the kept columns.
        blas::gemm(CblasRowMajor, CblasTrans, CblasNoTrans, bs, keep * bs, m, Real(1),
                   dy.data<Real>() + i * bs, out, xg.data(), keep * bs, Real(1),
                   g.blocks.data<Real>() + i * bs * keep * bs, keep * bs);
        blas::gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, keep * bs, bs, Real(1),
                   dy.data<Real>() + i * bs, out, W, keep * bs, Real(0), dxg.data(), keep * bs);
        for (std::int64_t r = 0; r < m; ++r) {
            for (std::int64_t j = 0; j < keep; ++j) {
                Real* d = pdx + r * in + cols[j] * bs;
                const Real* s = dxg.data() + (r * keep + j) * bs;
                for (std::int64_t c = 0; c < bs; ++c) d[c] += s[c];
            }
        }
    }
}

// Every row of y := b.
template <class Real>
void fill_rows(const Tensor& b_in, Tensor& y) {
    const Tensor b = b_in.contiguous();
    for (std::int64_t r = 0; r < y.dim(0); ++r) {
        std::copy_n(b.data<Real>(), y.dim(1), y.data<Real>() + r * y.dim(1));
    }
}

// y += x ⊙ d, or dd += Σ_rows dy ⊙ x (rows of width n).
template <class Real>
void add_diagonal(const Tensor& x, const Tensor& d, Tensor& y) {
    const std::int64_t m = x.dim(0), n = x.dim(1);
    for (std::int64_t r = 0; r < m; ++r) {
        for (std::int64_t c = 0; c < n; ++c) {
            y.data<Real>()[r * n + c] += x.data<Real>()[r * n + c] * d.data<Real>()[c];
        }
    }
}
template <class Real>
void diagonal_gradient(const Tensor& dy, const Tensor& x, Tensor& dd) {
    const std::int64_t m = x.dim(0), n = x.dim(1);
    for (std::int64_t r = 0; r < m; ++r) {
        for (std::int64_t c = 0; c < n; ++c) {
            dd.data<Real>()[c] += dy.data<Real>()[r * n + c] * x.data<Real>()[r * n + c];
        }
    }
}

void check_input(std::string_view where, const Projection& p, const Tensor& x, const Tensor* bias) {
    check_argument(p.defined(), where, "projection", "empty",
                   "a dense, block_sparse or low_rank map");
    check_argument(x.dtype() == p.dtype(), where, "x dtype", std::string(dtype_name(x.dtype())),
                   std::string(dtype_name(p.dtype())) + " (as the projection)");
    check_shape(where, "x", x, {-1, p.in_features()});
    if (bias != nullptr) check_shape(where, "bias", *bias, {p.out_features()});
}

}  // namespace

Projection::Projection(Tensor dense_weight) : weight(std::move(dense_weight)) {}

Projection Projection::block_sparse(std::int64_t out, std::int64_t in, double sparsity,
                                    DType dtype) {
    check_argument(out >= 1 && in >= 1, kWhere, "shape", fmt::format("({}, {})", out, in),
                   "out, in >= 1");
    check_argument(sparsity >= 0 && sparsity < 1, kWhere, "sparsity_level",
                   fmt::format("{}", sparsity), "in [0, 1)");
    std::int64_t bs = 32;
    while (out % bs != 0 || in % bs != 0) bs /= 2;
    const std::int64_t rows = out / bs, in_blocks = in / bs;
    const std::int64_t keep = std::clamp<std::int64_t>(
        std::llround((1 - sparsity) * static_cast<double>(in_blocks)), 1, in_blocks);
    Projection p;
    p.kind = Kind::BlockSparse;
    p.blocks = Tensor({rows, bs, keep * bs}, dtype);
    p.block_cols = Tensor({rows, keep}, DType::I64);
    p.sparse_in = in;
    for (std::int64_t i = 0; i < rows; ++i) {
        for (std::int64_t j = 0; j < keep; ++j) {
            p.block_cols.data<std::int64_t>()[i * keep + j] =
                (i + j * in_blocks / keep) % in_blocks;
        }
    }
    return p;
}

Projection Projection::low_rank(std::int64_t out, std::int64_t in, std::int64_t rank, DType dtype) {
    check_argument(rank >= 1 && rank <= std::min(out, in), kWhere, "low_rank_dim",
                   std::to_string(rank),
                   fmt::format("in [1, min(out, in) = {}]", std::min(out, in)));
    Projection p;
    p.kind = Kind::LowRank;
    p.U = Tensor({out, rank}, dtype);
    p.V = Tensor({rank, in}, dtype);
    if (out == in) p.diag = Tensor({out}, dtype);
    return p;
}

bool Projection::defined() const {
    switch (kind) {
        case Kind::Dense:
            return weight.defined();
        case Kind::BlockSparse:
            return blocks.defined();
        case Kind::LowRank:
            return U.defined();
    }
    return false;
}

std::int64_t Projection::block_size() const {
    return blocks.dim(1);
}

std::int64_t Projection::out_features() const {
    switch (kind) {
        case Kind::Dense:
            return weight.dim(0);
        case Kind::BlockSparse:
            return blocks.dim(0) * blocks.dim(1);
        case Kind::LowRank:
            return U.dim(0);
    }
    return 0;
}

std::int64_t Projection::in_features() const {
    switch (kind) {
        case Kind::Dense:
            return weight.dim(1);
        case Kind::BlockSparse:
            return sparse_in;
        case Kind::LowRank:
            return V.dim(1);
    }
    return 0;
}

DType Projection::dtype() const {
    switch (kind) {
        case Kind::Dense:
            return weight.dtype();
        case Kind::BlockSparse:
            return blocks.dtype();
        case Kind::LowRank:
            return U.dtype();
    }
    return DType::F32;
}

std::int64_t Projection::parameter_count() const {
    const auto n = [](const Tensor& t) { return t.defined() ? t.numel() : 0; };
    return n(weight) + n(blocks) + n(U) + n(V) + n(diag);
}

std::int64_t Projection::fan_in() const {
    return kind == Kind::BlockSparse ? blocks.dim(2) : in_features();
}

std::string_view Projection::kind_name() const {
    switch (kind) {
        case Kind::Dense:
            return "dense";
        case Kind::BlockSparse:
            return "block_sparse";
        case Kind::LowRank:
            return "low_rank";
    }
    return "";
}

Projection Projection::zeros_like() const {
    const auto z = [](const Tensor& t) {
        return t.defined() ? Tensor(t.shape(), t.dtype()) : Tensor();
    };
    Projection g = *this;  // kind, pattern and input width shared
    g.weight = z(weight);
    g.blocks = z(blocks);
    g.U = z(U);
    g.V = z(V);
    g.diag = z(diag);
    return g;
}

Tensor Projection::to_dense() const {
    const std::int64_t out = out_features(), in = in_features();
    switch (kind) {
        case Kind::Dense:
            return weight.contiguous();
        case Kind::LowRank: {
            Tensor eye({in, in}, dtype());
            const auto fill = [&]<class Real>(Real) {
                for (std::int64_t k = 0; k < in; ++k) eye.data<Real>()[k * in + k] = 1;
            };
            dtype() == DType::F32 ? fill(0.0f) : fill(0.0);
            // Row k of W is W applied to e_k, transposed: Wᵀ = projection_forward(I).
            return projection_forward(*this, eye).transpose(0, 1).contiguous();
        }
        case Kind::BlockSparse: {
            Tensor W({out, in}, dtype());
            const std::int64_t bs = block_size(), keep = block_cols.dim(1);
            const auto fill = [&]<class Real>(Real) {
                for (std::int64_t i = 0; i < blocks.dim(0); ++i) {
                    for (std::int64_t o = 0; o < bs; ++o) {
                        for (std::int64_t j = 0; j < keep; ++j) {
                            const std::int64_t col = block_cols.data<std::int64_t>()[i * keep + j];
                            for (std::int64_t c = 0; c < bs; ++c) {
                                W.data<Real>()[(i * bs + o) * in + col * bs + c] =
                                    blocks.data<Real>()[(i * bs + o) * keep * bs + j * bs + c];
                            }
                        }
                    }
                }
            };
            dtype() == DType::F32 ? fill(0.0f) : fill(0.0);
            return W;
        }
    }
    return Tensor();
}

void Projection::fill_uniform(Rng& rng, double bound) {
    switch (kind) {
        case Kind::Dense:
            rng.uniform(weight, -bound, bound);
            return;
        case Kind::BlockSparse:
            rng.uniform(blocks, -bound, bound);
            return;
        case Kind::LowRank: {
            // (U V)_oi = Σ_k U_ok V_ki has variance r σ_U² σ_V²; U(±a) has variance a²/3. Equal
            // factor bounds a with r a⁴/9 = bound²/3.
            const double r = static_cast<double>(U.dim(1));
            const double a = std::pow(3 * bound * bound / r, 0.25);
            rng.uniform(U, -a, a);
            rng.uniform(V, -a, a);
            return;
        }
    }
}

Tensor projection_forward(const Projection& p, const Tensor& x_in, const Tensor* bias) {
    constexpr std::string_view where = "projection_forward";
    check_input(where, p, x_in, bias);
    const Tensor x = x_in.contiguous();
    switch (p.kind) {
        case Projection::Kind::Dense:
            return linear_forward(x, p.weight, bias);
        case Projection::Kind::LowRank: {
            Tensor y = linear_forward(linear_forward(x, p.V, nullptr), p.U, bias);
            if (p.diag.defined()) {
                x.dtype() == DType::F32 ? add_diagonal<float>(x, p.diag, y)
                                        : add_diagonal<double>(x, p.diag, y);
            }
            return y;
        }
        case Projection::Kind::BlockSparse: {
            Tensor y({x.dim(0), p.out_features()}, x.dtype());
            if (bias != nullptr) {
                x.dtype() == DType::F32 ? fill_rows<float>(*bias, y) : fill_rows<double>(*bias, y);
            }
            x.dtype() == DType::F32 ? block_sparse_forward<float>(p, x, y)
                                    : block_sparse_forward<double>(p, x, y);
            return y;
        }
    }
    return Tensor();
}

Tensor projection_backward(const Projection& p, const Tensor& dy_in, const Tensor& x_in,
                           Projection& g, Tensor* dbias) {
    constexpr std::string_view where = "projection_backward";
    check_input(where, p, x_in, nullptr);
    check_argument(g.kind == p.kind && g.defined(), where, "grads", std::string(g.kind_name()),
                   std::string(p.kind_name()) + " (made by zeros_like)");
    check_shape(where, "dy", dy_in, {x_in.dim(0), p.out_features()});
    const Tensor x = x_in.contiguous(), dy = dy_in.to(x.dtype()).contiguous();
    switch (p.kind) {
        case Projection::Kind::Dense:
            return linear_backward(dy, x, p.weight, g.weight, dbias);
        case Projection::Kind::LowRank: {
            const Tensor t = linear_forward(x, p.V, nullptr);
            const Tensor dt = linear_backward(dy, t, p.U, g.U, dbias);
            Tensor dx = linear_backward(dt, x, p.V, g.V, nullptr);
            if (p.diag.defined()) {
                x.dtype() == DType::F32 ? add_diagonal<float>(dy, p.diag, dx)
                                        : add_diagonal<double>(dy, p.diag, dx);
                x.dtype() == DType::F32 ? diagonal_gradient<float>(dy, x, g.diag)
                                        : diagonal_gradient<double>(dy, x, g.diag);
            }
            return dx;
        }
        case Projection::Kind::BlockSparse: {
            Tensor dx({x.dim(0), p.in_features()}, x.dtype());
            x.dtype() == DType::F32 ? block_sparse_backward<float>(p, dy, x, dx, g)
                                    : block_sparse_backward<double>(p, dy, x, dx, g);
            if (dbias != nullptr) {
                const auto sum = [&]<class Real>(Real) {
                    for (std::int64_t r = 0; r < dy.dim(0); ++r) {
                        for (std::int64_t o = 0; o < dy.dim(1); ++o) {
                            dbias->data<Real>()[o] += dy.data<Real>()[r * dy.dim(1) + o];
                        }
                    }
                };
                x.dtype() == DType::F32 ? sum(0.0f) : sum(0.0);
            }
            return dx;
        }
    }
    return Tensor();
}

}  // namespace structseq
