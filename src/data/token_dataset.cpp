#include "structseq/data/token_dataset.h"

#include "structseq/core/error.h"
#include "structseq/core/rng.h"

#include <algorithm>
#include <cmath>

namespace structseq {

TokenWindows::TokenWindows(std::vector<std::int64_t> stream, std::int64_t length,
                           std::int64_t stride, std::int64_t text_bytes)
    : stream_(std::move(stream)), length_(length), stride_(stride), text_bytes_(text_bytes) {
    check_argument(length >= 1, "TokenWindows", "length", std::to_string(length), ">= 1");
    check_argument(stride >= 1, "TokenWindows", "stride", std::to_string(stride), ">= 1");
    const auto n = static_cast<std::int64_t>(stream_.size());
    windows_ = n > length ? (n - length - 1) / stride + 1 : 0;
}

double TokenWindows::bytes_per_token() const {
    return stream_.empty() ? 1.0
                           : static_cast<double>(text_bytes_) / static_cast<double>(stream_.size());
}

void TokenWindows::batch(std::span<const std::int64_t> indices, Tensor& tokens,
                         Tensor& targets) const {
    const auto count = static_cast<std::int64_t>(indices.size());
    tokens = Tensor::empty({count, length_}, DType::I64);
    targets = Tensor::empty({count, length_}, DType::I64);
    std::int64_t* in = tokens.data<std::int64_t>();
    std::int64_t* out = targets.data<std::int64_t>();
    for (std::int64_t b = 0; b < count; ++b) {
        const std::int64_t w = indices[static_cast<std::size_t>(b)];
        check_argument(w >= 0 && w < windows_, "TokenWindows::batch", "window index",
                       std::to_string(w), fmt::format("in [0, {})", windows_));
        const std::int64_t* start = stream_.data() + w * stride_;
        std::copy(start, start + length_, in + b * length_);
        std::copy(start + 1, start + length_ + 1, out + b * length_);
    }
}

TokenDataset build_token_dataset(const std::vector<std::string>& documents,
                                 const Tokenizer& tokenizer, const DatasetOptions& options) {
    const auto n = static_cast<std::int64_t>(documents.size());
    if (n == 0) fail("dataset: no documents (the source is empty)");
    check_argument(options.val_split >= 0 && options.test_split >= 0 &&
                       options.val_split + options.test_split < 1,
                   "dataset", "val_split + test_split",
                   fmt::format("{} + {}", options.val_split, options.test_split),
                   "non-negative splits summing to less than 1");
    const auto share = [n](double split) {
        if (split <= 0) return std::int64_t{0};
        return std::max<std::int64_t>(1, std::llround(split * static_cast<double>(n)));
    };
    const std::int64_t val = share(options.val_split), test = share(options.test_split);
    if (val + test >= n) {
        fail(
            "dataset: {} documents cannot be split into train, validation ({}) and test ({}); "
            "lower dataset.val_split / dataset.test_split or add documents",
            n, val, test);
    }
    const std::vector<std::int64_t> order = Rng(options.seed, /*stream=*/0x5eed).permutation(n);
    const auto windows_of = [&](std::int64_t first, std::int64_t last, const char* split) {
        if (first == last) return TokenWindows();
        std::string text;
        for (std::int64_t i = first; i < last; ++i) {
            if (i > first) text += "\n\n";
            text += documents[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])];
        }
        TokenWindows w(tokenizer.encode(text), options.max_seq_len, options.stride,
                       static_cast<std::int64_t>(text.size()));
        if (w.size() == 0) {
            fail(
                "dataset: the {} split has {} tokens, fewer than max_seq_len + 1 = {}; use a "
                "larger dataset or a smaller dataset.max_seq_len",
                split, w.stream_tokens(), options.max_seq_len + 1);
        }
        return w;
    };
    TokenDataset d;
    d.documents = n;
    d.val = windows_of(0, val, "validation");
    d.test = windows_of(val, val + test, "test");
    d.train = windows_of(val + test, n, "training");
    return d;
}

}  // namespace structseq
