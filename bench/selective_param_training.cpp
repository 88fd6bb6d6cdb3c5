// Seed 002's selective parameterizations end to end: the same Mamba model with dense,
// block-sparse (sparsity 0.9) and low-rank in_proj / x_proj / out_proj, trained with AdamW on the
// same synthetic data from the same seed; median training-step time (forward, backward, AdamW)
// and the validation loss reached, printed as a markdown table.
//
// Data: a first-order Markov chain over the vocabulary in which every token has 4 successors
// with random probabilities; its entropy rate (the lowest reachable loss) is printed too.
//
// Usage: structseq_selective_param_training [--steps 300] [--d-model 128] [--layers 4]
//        [--threads 1]

#include "structseq/core/rng.h"
#include "structseq/core/threads.h"
#include "structseq/model/mamba_init.h"
#include "structseq/train/adamw.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace structseq {
namespace {

constexpr std::int64_t kVocab = 256, kSuccessors = 4, kBatch = 8, kLength = 128;

struct Chain {
    std::vector<std::int64_t> next;  // (vocab, successors)
    std::vector<double> cumulative;  // (vocab, successors)
    double entropy_rate = 0;         // nats per token under the stationary distribution

    Chain() {
        const Tensor u = Rng(100).uniform({kVocab, 2 * kSuccessors}, DType::F64);
        const double* p = u.data<double>();
        std::vector<double> prob(kVocab * kSuccessors);
        for (std::int64_t s = 0; s < kVocab; ++s) {
            double total = 0;
            for (std::int64_t j = 0; j < kSuccessors; ++j) {
                next.push_back(static_cast<std::int64_t>(p[s * 2 * kSuccessors + j] * kVocab));
                prob[s * kSuccessors + j] = 0.05 + p[s * 2 * kSuccessors + kSuccessors + j];
                total += prob[s * kSuccessors + j];
            }
            double acc = 0;
            for (std::int64_t j = 0; j < kSuccessors; ++j) {
                prob[s * kSuccessors + j] /= total;
                acc += prob[s * kSuccessors + j];
                cumulative.push_back(acc);
            }
        }
        // Stationary distribution by power iteration, then H = Σ_s π_s H(next | s).
        std::vector<double> pi(kVocab, 1.0 / kVocab), step(kVocab);
        for (int it = 0; it < 2000; ++it) {
            std::fill(step.begin(), step.end(), 0.0);
            for (std::int64_t s = 0; s < kVocab; ++s) {
                for (std::int64_t j = 0; j < kSuccessors; ++j) {
                    step[next[s * kSuccessors + j]] += pi[s] * prob[s * kSuccessors + j];
                }
            }
            pi = step;
        }
        for (std::int64_t s = 0; s < kVocab; ++s) {
            for (std::int64_t j = 0; j < kSuccessors; ++j) {
                const double q = prob[s * kSuccessors + j];
                entropy_rate -= pi[s] * q * std::log(q);
            }
        }
    }

    // Tokens (batch, length + 1) from random starts; inputs are [:, :-1], targets [:, 1:].
    std::vector<std::int64_t> sample(std::uint64_t seed) const {
        const Tensor u = Rng(seed).uniform({kBatch, kLength + 1}, DType::F64);
        std::vector<std::int64_t> out(kBatch * (kLength + 1));
        for (std::int64_t b = 0; b < kBatch; ++b) {
            std::int64_t s =
                static_cast<std::int64_t>(u.data<double>()[b * (kLength + 1)] * kVocab);
            out[b * (kLength + 1)] = s;
            for (std::int64_t t = 1; t <= kLength; ++t) {
                const double r = u.data<double>()[b * (kLength + 1) + t];
                std::int64_t j = 0;
                while (j + 1 < kSuccessors && r > cumulative[s * kSuccessors + j]) ++j;
                s = next[s * kSuccessors + j];
                out[b * (kLength + 1) + t] = s;
            }
        }
        return out;
    }
};

std::pair<Tensor, Tensor> split(const std::vector<std::int64_t>& seq) {
    Tensor tokens({kBatch, kLength}, DType::I64), targets({kBatch, kLength}, DType::I64);
    for (std::int64_t b = 0; b < kBatch; ++b) {
        for (std::int64_t t = 0; t < kLength; ++t) {
            tokens.data<std::int64_t>()[b * kLength + t] = seq[b * (kLength + 1) + t];
            targets.data<std::int64_t>()[b * kLength + t] = seq[b * (kLength + 1) + t + 1];
        }
    }
    return {tokens, targets};
}

struct Result {
    std::int64_t parameters;
    double median_step_ms, validation_loss;
};

Result train(const MambaConfig& config, const Chain& chain, int steps) {
    MambaInitOptions init;
    init.seed = 1;
    MambaWeights weights = init_mamba_weights(config, init);
    AdamW optimizer(adamw_parameters(weights.named_tensors()));
    std::vector<double> times;
    for (int step = 0; step < steps; ++step) {
        const auto [tokens, targets] = split(chain.sample(1000 + step));
        const auto start = std::chrono::steady_clock::now();
        const MambaModel model(config, weights);  // shares the weights' storage
        MambaWeights grads = weights.zeros_like();
        model.loss(tokens, targets, &grads);
        std::vector<const Tensor*> g;
        for (const auto& named : grads.named_tensors()) g.push_back(named.second);
        const double warmup = std::min(1.0, (step + 1) / 30.0);
        optimizer.step(g, 3e-3 * warmup);
        times.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count());
    }
    std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
    const MambaModel model(config, weights);
    double validation = 0;
    for (int k = 0; k < 8; ++k) {
        const auto [tokens, targets] = split(chain.sample(900000 + k));
        validation += model.loss(tokens, targets) / 8;
    }
    return {model.parameter_count(), times[times.size() / 2], validation};
}

int run(int argc, char** argv) {
    int steps = 300, threads = 1;
    std::int64_t d_model = 128, layers = 4;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        const long value = std::atol(argv[i + 1]);
        if (flag == "--steps") {
            steps = static_cast<int>(value);
        } else if (flag == "--d-model") {
            d_model = value;
        } else if (flag == "--layers") {
            layers = value;
        } else if (flag == "--threads") {
            threads = static_cast<int>(value);
        } else {
            std::fprintf(stderr, "unknown flag %s (--steps, --d-model, --layers, --threads)\n",
                         flag.c_str());
            return 2;
        }
    }
    if (steps < 1 || d_model < 16 || layers < 1 || threads < 1) {
        std::fprintf(stderr, "expected --steps >= 1, --d-model >= 16, --layers, --threads >= 1\n");
        return 2;
    }
    set_num_threads(threads);
    const Chain chain;
    const MambaConfig c = mamba_config(d_model, layers, kVocab);
    std::printf(
        "Mamba d_model %lld, %lld layers, vocab %lld, batch %lld x %lld, %d AdamW steps "
        "(lr 3e-3, 30 warm-up), %d thread(s); entropy rate of the data %.3f nats\n\n",
        static_cast<long long>(d_model), static_cast<long long>(layers),
        static_cast<long long>(kVocab), static_cast<long long>(kBatch),
        static_cast<long long>(kLength), steps, threads, chain.entropy_rate);
    std::printf("| selective_param_class | parameters | median step ms | validation loss |\n");
    std::printf("|---|---|---|---|\n");
    for (const char* kind : {"dense", "sparse", "low_rank"}) {
        MambaConfig k = c;
        k.selective_param_class = kind;
        k.sparsity_level = 0.9;
        k.low_rank_dim = d_model / 4;
        const Result r = train(k, chain, steps);
        std::string label = kind;
        if (label == "sparse") label += " (0.9)";
        if (label == "low_rank") label += " (rank " + std::to_string(d_model / 4) + ")";
        std::printf("| %s | %.2f M | %.1f | %.3f |\n", label.c_str(),
                    static_cast<double>(r.parameters) / 1e6, r.median_step_ms, r.validation_loss);
        std::fflush(stdout);
    }
    return 0;
}

}  // namespace
}  // namespace structseq

int main(int argc, char** argv) {
    return structseq::run(argc, argv);
}
