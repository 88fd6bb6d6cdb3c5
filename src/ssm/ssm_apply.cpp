#include "structseq/ssm/ssm_apply.h"

#include "ssm/state_space_system.h"
#include "structseq/ssm/causal_conv.h"
#include "structseq/ssm/discretize.h"
#include "structseq/ssm/ssm_kernel.h"

#include <vector>

namespace structseq {

namespace {

using namespace ssm_detail;
constexpr std::string_view kWhere = "ssm_apply";

struct Channel {
    Tensor A, B, C, D;
};

// The systems, one per channel (or one shared), discretized when dt is given.
std::vector<Channel> channels(const Tensor& A, const Tensor& B, const Tensor& C, const Tensor& D,
                              std::int64_t H, std::optional<double> dt) {
    check_numeric(B, kWhere, "B");
    const bool per_channel = B.rank() == 3 || (B.rank() == 2 && B.dim(1) != 1);
    std::vector<Channel> systems;
    if (!per_channel) {
        systems.push_back({A, B, C, D});
    } else {
        for (const auto& [t, name] :
             {std::pair{&A, "A"}, std::pair{&B, "B"}, std::pair{&C, "C"}, std::pair{&D, "D"}}) {
            check_numeric(*t, kWhere, name);
            check_argument(t->rank() >= 1 && t->dim(0) == H, kWhere, name,
                           "shape " + shape_string(t->shape()),
                           fmt::format("a leading dimension of H = {} (per-channel parameters, as "
                                       "B suggests)",
                                       H));
        }
        for (std::int64_t h = 0; h < H; ++h) {
            systems.push_back({A.select(0, h), B.select(0, h), C.select(0, h), D.select(0, h)});
        }
    }
    for (Channel& s : systems) {
        for (const Tensor* t : {&s.A, &s.B, &s.C, &s.D}) {
            check_numeric(*t, kWhere, "A, B, C and D");
            check_argument(!is_complex(t->dtype()), kWhere, "A, B, C and D",
                           "dtype " + std::string(dtype_name(t->dtype())),
                           "real systems (use ssm_kernel_dplr and causal_conv for complex forms)");
        }
        if (dt) {
            const DiscreteSystem d = discretize(s.A, s.B, *dt, "zoh");
            s.A = d.A;
            s.B = d.B;
        }
    }
    return systems;
}

// Columns (b, h) of u that one system drives, as an n × columns state updated per step.
void run_recurrent(const System<double>& s, const double* u, std::int64_t batch, std::int64_t L,
                   std::int64_t H, const std::vector<std::int64_t>& channels_of, double* y) {
    const std::int64_t n = s.B.size();
    const auto columns = static_cast<std::int64_t>(channels_of.size()) * batch;
    Eigen::MatrixXd X = Eigen::MatrixXd::Zero(n, columns), next(n, columns);
    Eigen::RowVectorXd input(columns);
    for (std::int64_t t = 0; t < L; ++t) {
        for (std::int64_t b = 0; b < batch; ++b) {
            for (std::size_t j = 0; j < channels_of.size(); ++j) {
                input(b * static_cast<std::int64_t>(channels_of.size()) +
                      static_cast<std::int64_t>(j)) = u[(b * L + t) * H + channels_of[j]];
            }
        }
        const Eigen::RowVectorXd out = s.C.transpose() * X + s.D * input;
        for (std::int64_t b = 0; b < batch; ++b) {
            for (std::size_t j = 0; j < channels_of.size(); ++j) {
                y[(b * L + t) * H + channels_of[j]] =
                    out(b * static_cast<std::int64_t>(channels_of.size()) +
                        static_cast<std::int64_t>(j));
            }
        }
        if (s.diagonal) {
            next = s.A.col(0).asDiagonal() * X;
        } else {
            next.noalias() = s.A * X;
        }
        next.noalias() += s.B * input;
        X.swap(next);
    }
}

}  // namespace

Tensor ssm_apply(const Tensor& A, const Tensor& B, const Tensor& C, const Tensor& D,
                 const Tensor& u, std::optional<double> dt, std::string_view method) {
    check_argument(method == "recurrent" || method == "conv_direct" || method == "conv_fft", kWhere,
                   "method", fmt::format("\"{}\"", method),
                   "\"recurrent\", \"conv_direct\" or \"conv_fft\"");
    check_numeric(u, kWhere, "u");
    check_argument(u.rank() == 3 && !is_complex(u.dtype()), kWhere, "u",
                   "shape " + shape_string(u.shape()), "a real (B, L, H): batch, time, channels");
    const std::int64_t batch = u.dim(0), L = u.dim(1), H = u.dim(2);
    const std::vector<Channel> systems = channels(A, B, C, D, H, dt);
    const bool shared = systems.size() == 1;
    const DType dtype = result_dtype({&u}, false);
    if (L == 0) return Tensor(u.shape(), dtype);
    if (method != "recurrent") {
        Tensor K(shared ? Shape{L} : Shape{L, H}, DType::F64);
        for (std::size_t h = 0; h < systems.size(); ++h) {
            const Channel& s = systems[h];
            const Tensor k =
                ssm_kernel(s.A, s.B, s.C, s.D, L, s.A.rank() <= 1 ? "diagonal" : "recurrent")
                    .to(DType::F64);
            for (std::int64_t l = 0; l < L; ++l) {
                K.data<double>()[l * static_cast<std::int64_t>(systems.size()) +
                                 static_cast<std::int64_t>(h)] = k.data<double>()[l];
            }
        }
        return causal_conv(u, K, method == "conv_direct" ? "direct" : "fft").to(dtype);
    }
    const Tensor u64 = u.contiguous().to(DType::F64);
    Tensor y(u.shape(), DType::F64);
    for (std::size_t h = 0; h < systems.size(); ++h) {
        const Channel& c = systems[h];
        const System<double> s = read_system<double>(kWhere, c.A, c.B, c.C, c.D);
        std::vector<std::int64_t> driven;
        if (shared) {
            for (std::int64_t j = 0; j < H; ++j) driven.push_back(j);
        } else {
            driven.push_back(static_cast<std::int64_t>(h));
        }
        run_recurrent(s, u64.data<double>(), batch, L, H, driven, y.data<double>());
    }
    return y.to(dtype);
}

}  // namespace structseq
