// The spectral KV cache on a trained attention model (a report, not a Google Benchmark). The
// first --context tokens of the run's test split (real text the model did not train on) run
// token by token through the model's recurrent form:
//   1. with the exact float32 cache: next-token loss → perplexity, and tokens/s over the last
//      --timed positions (generation speed at that context);
//   2. with the spectral cache (attention/spectral_kv_cache.h): the same;
//   3. along the exact run, every softmax layer's attention output from the spectral cache is
//      compared with the exact one at each position past the first block: Pearson correlation
//      and relative L2 error over all (position, head, channel) values.
// It prints the caches' memory against float32 and fp16 caches of the same context.
//
// Usage: structseq_kv_cache_report --model-dir RUN [--context 4096] [--block-size 512]
//        [--k-rank-keys 16] [--k-rank-values 32] [--timed 256] [--threads N]

#include "structseq/attention/spectral_kv_cache.h"
#include "structseq/core/threads.h"
#include "structseq/train/checkpoint.h"
#include "structseq/train/trainer.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace structseq {
namespace {

struct Options {
    std::string model_dir;
    std::int64_t context = 4096, block_size = 512, rank_keys = 16, rank_values = 32, timed = 256;
    int threads = 0;
};

// Σ x, Σ y, Σ x², Σ y², Σ xy, Σ (x − y)² and the count: Pearson correlation and relative error.
struct Agreement {
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, sdd = 0;
    std::int64_t n = 0;
    void add(const Tensor& approx, const Tensor& exact) {
        for (std::int64_t i = 0; i < exact.numel(); ++i) {
            const double x = approx.data<float>()[i], y = exact.data<float>()[i];
            sx += x, sy += y, sxx += x * x, syy += y * y, sxy += x * y, sdd += (x - y) * (x - y);
            ++n;
        }
    }
    double correlation() const {
        const double N = static_cast<double>(n);
        return (sxy - sx * sy / N) / std::sqrt((sxx - sx * sx / N) * (syy - sy * sy / N));
    }
    double relative_error() const { return std::sqrt(sdd / syy); }
};

// The exact cache, with a spectral one fed the same keys and values alongside: attend() returns
// the exact output and records how far the spectral one is from it.
class ComparingCache final : public KvCache {
public:
    ComparingCache(std::int64_t heads, std::int64_t head_dim, const KvCacheOptions& o,
                   Agreement* agreement)
        : exact_(heads, head_dim),
          spectral_(heads, head_dim, o.block_size, o.k_rank_keys, o.k_rank_values, o.seed),
          block_size_(o.block_size),
          agreement_(agreement) {}
    void append(const Tensor& k, const Tensor& v) override {
        exact_.append(k, v);
        spectral_.append(k, v);
    }
    Tensor attend(const Tensor& q) const override {
        Tensor exact = exact_.attend(q);
        if (exact_.length() > block_size_) agreement_->add(spectral_.attend(q), exact);
        return exact;
    }
    std::int64_t length() const override { return exact_.length(); }
    std::int64_t memory_bytes() const override { return exact_.memory_bytes(); }
    std::unique_ptr<KvCache> clone() const override {
        return std::make_unique<ComparingCache>(*this);
    }

private:
    ExactKvCache exact_;
    SpectralKVCache spectral_;
    std::int64_t block_size_;
    Agreement* agreement_;
};

struct RunResult {
    double loss = 0, tokens_per_s = 0;
    std::int64_t cache_bytes = 0;
};

// Token by token over tokens[0 … L) with targets; `prepare` may swap the state's caches.
template <class Prepare>
RunResult run(const MambaModel& model, const Tensor& tokens, const Tensor& targets,
              const KvCacheOptions& cache, std::int64_t timed, Prepare prepare) {
    MambaState state = model.initial_state(1, cache);
    prepare(state);
    const std::int64_t length = tokens.dim(1);
    RunResult r;
    Tensor token({1}, DType::I64);
    auto start = std::chrono::steady_clock::now();
    for (std::int64_t t = 0; t < length; ++t) {
        if (t == length - timed) start = std::chrono::steady_clock::now();
        token.data<std::int64_t>()[0] = tokens.data<std::int64_t>()[t];
        const Tensor logits = model.step(token, state);
        const float* z = logits.data<float>();
        double top = z[0], sum = 0;
        for (std::int64_t v = 1; v < logits.numel(); ++v) top = std::max(top, double(z[v]));
        for (std::int64_t v = 0; v < logits.numel(); ++v) sum += std::exp(z[v] - top);
        r.loss += top + std::log(sum) - z[targets.data<std::int64_t>()[t]];
    }
    r.tokens_per_s =
        static_cast<double>(timed) /
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    r.loss /= static_cast<double>(length);
    r.cache_bytes = state.kv_cache_bytes();
    return r;
}

int report(const Options& o) {
    if (o.threads > 0) set_num_threads(o.threads);
    LoadedCheckpoint loaded = load_checkpoint(find_checkpoint(o.model_dir, "best"));
    const MambaModel& model = loaded.model;
    RunConfig config = loaded.config;
    config.dataset.max_seq_len = o.context;
    config.dataset.stride = o.context;
    const TokenDataset data = load_run_dataset(config, *loaded.tokenizer, loaded.state.seed);
    if (data.test.size() < 1) {
        fail("the test split of {} holds fewer than {} tokens", o.model_dir, o.context);
    }
    const std::int64_t first = 0;
    Tensor tokens, targets;
    data.test.batch(std::span(&first, 1), tokens, targets);
    KvCacheOptions exact, spectral;
    spectral.kind = "spectral";
    spectral.block_size = o.block_size;
    spectral.k_rank_keys = o.rank_keys;
    spectral.k_rank_values = o.rank_values;
    const std::int64_t heads = attention_heads(model.config()),
                       head_dim = model.config().d_model / heads;
    std::int64_t softmax_layers = 0;
    for (std::int64_t l = 0; l < model.config().n_layer; ++l) {
        softmax_layers += model.config().mixers[static_cast<std::size_t>(l)] == "attention";
    }
    fmt::print(
        "model {}: {} softmax-attention layers, {} heads of {}; context {} tokens of the "
        "test split; {} thread(s)\n",
        loaded.directory, softmax_layers, heads, head_dim, o.context, num_threads());
    const auto nothing = [](MambaState&) {};
    const RunResult a = run(model, tokens, targets, exact, o.timed, nothing);
    const RunResult b = run(model, tokens, targets, spectral, o.timed, nothing);
    Agreement agreement;
    run(model, tokens, targets, exact, o.timed, [&](MambaState& state) {
        for (auto& layer : state.attention) {
            for (AttentionMixerCache& c : layer) {
                if (c.kv != nullptr) {
                    c.kv = std::make_unique<ComparingCache>(heads, head_dim, spectral, &agreement);
                }
            }
        }
    });
    const double fp32 = static_cast<double>(a.cache_bytes), mib = 1 << 20;
    fmt::print(
        "\n| cache | memory (MiB) | vs float32 | vs fp16 | perplexity | tokens/s at "
        "{}–{} |\n|---|---|---|---|---|---|\n",
        o.context - o.timed, o.context);
    fmt::print("| exact float32 | {:.2f} | 1.0× | 0.5× | {:.4f} | {:.1f} |\n", fp32 / mib,
               std::exp(a.loss), a.tokens_per_s);
    fmt::print("| exact fp16 (size only) | {:.2f} | 2.0× | 1.0× | | |\n", fp32 / 2 / mib);
    fmt::print("| spectral, B {}, ranks {}/{} | {:.2f} | {:.1f}× | {:.1f}× | {:.4f} | {:.1f} |\n",
               o.block_size, o.rank_keys, o.rank_values, static_cast<double>(b.cache_bytes) / mib,
               fp32 / b.cache_bytes, fp32 / 2 / b.cache_bytes, std::exp(b.loss), b.tokens_per_s);
    fmt::print(
        "\nperplexity change {:+.2f} % ({:.4f} → {:.4f} nats/token); attention output, "
        "spectral vs exact along the exact run (positions past the first block, every "
        "softmax layer): correlation {:.4f}, relative L2 error {:.3f} over {} values\n",
        100 * (std::exp(b.loss - a.loss) - 1), a.loss, b.loss, agreement.correlation(),
        agreement.relative_error(), agreement.n);
    return 0;
}

}  // namespace
}  // namespace structseq

int main(int argc, char** argv) {
    structseq::Options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        const char* value = argv[i + 1];
        if (flag == "--model-dir") {
            o.model_dir = value;
        } else if (flag == "--context") {
            o.context = std::atoll(value);
        } else if (flag == "--block-size") {
            o.block_size = std::atoll(value);
        } else if (flag == "--k-rank-keys") {
            o.rank_keys = std::atoll(value);
        } else if (flag == "--k-rank-values") {
            o.rank_values = std::atoll(value);
        } else if (flag == "--timed") {
            o.timed = std::atoll(value);
        } else if (flag == "--threads") {
            o.threads = std::atoi(value);
        } else {
            std::fprintf(stderr, "unknown option %s\n", flag.c_str());
            return 2;
        }
    }
    if (o.model_dir.empty() || o.timed < 1 || o.timed > o.context) {
        std::fprintf(stderr,
                     "usage: structseq_kv_cache_report --model-dir RUN [--context 4096] "
                     "[--block-size 512] [--k-rank-keys 16] [--k-rank-values 32] [--timed 256] "
                     "[--threads N]\n");
        return 2;
    }
    try {
        return structseq::report(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
