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

void TokenWindows::set_teacher(std::int64_t k, std::vector<std::int64_t> ids,
                               std::vector<float> logits) {
    check_argument(k >= 1 && ids.size() == stream_.size() * static_cast<std::size_t>(k) &&
                       logits.size() == ids.size(),
                   "TokenWindows::set_teacher", "teacher targets",
                   fmt::format("{} ids, {} logits, k {}", ids.size(), logits.size(), k),
                   fmt::format("k ≥ 1 values for each of the {} stream positions", stream_.size()));
    teacher_k_ = k;
    teacher_ids_ = std::move(ids);
    teacher_logits_ = std::move(logits);
}

void TokenWindows::teacher_batch(std::span<const std::int64_t> indices, Tensor& ids,
                                 Tensor& logits) const {
    check_argument(has_teacher(), "TokenWindows::teacher_batch", "teacher targets", "none",
                   "set_teacher() first");
    const auto count = static_cast<std::int64_t>(indices.size());
    ids = Tensor::empty({count, length_, teacher_k_}, DType::I64);
    logits = Tensor::empty({count, length_, teacher_k_}, DType::F32);
    const std::int64_t row = length_ * teacher_k_;
    for (std::int64_t b = 0; b < count; ++b) {
        const std::int64_t w = indices[static_cast<std::size_t>(b)];
        check_argument(w >= 0 && w < windows_, "TokenWindows::teacher_batch", "window index",
                       std::to_string(w), fmt::format("in [0, {})", windows_));
        const std::int64_t start = w * stride_ * teacher_k_;
        std::copy(teacher_ids_.begin() + start, teacher_ids_.begin() + start + row,
                  ids.data<std::int64_t>() + b * row);
        std::copy(teacher_logits_.begin() + start, teacher_logits_.begin() + start + row,
                  logits.data<float>() + b * row);
    }
}

TokenDataset build_token_dataset(const std::vector<std::string>& documents,
                                 const Tokenizer& tokenizer, const DatasetOptions& options,
                                 const std::vector<TeacherTargets>* teacher) {
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
    if (teacher != nullptr) {
        check_argument(static_cast<std::int64_t>(teacher->size()) == n, "dataset",
                       "teacher targets", std::to_string(teacher->size()) + " documents",
                       std::to_string(n) + " (one per document)");
    }
    const std::int64_t k = teacher != nullptr && !teacher->empty() ? (*teacher)[0].k : 0;
    const std::vector<std::int64_t> separator = tokenizer.encode("\n\n");
    const auto windows_of = [&](std::int64_t first, std::int64_t last, const char* split) {
        if (first == last) return TokenWindows();
        std::string text;
        std::vector<std::int64_t> stream, teacher_ids;
        std::vector<float> teacher_logits;
        for (std::int64_t i = first; i < last; ++i) {
            const auto d = static_cast<std::size_t>(order[static_cast<std::size_t>(i)]);
            if (i > first) text += "\n\n";
            text += documents[d];
            if (teacher == nullptr) continue;
            // A teacher's document is its recorded tokens (what the teacher's logits follow).
            const TeacherTargets& t = (*teacher)[d];
            if (t.k != k || t.tokens.empty()) {
                fail(
                    "dataset: document {} carries {} teacher tokens with top-{} logits; every "
                    "document needs tokens and the same top-k ({})",
                    d, t.tokens.size(), t.k, k);
            }
            if (i > first) {
                stream.insert(stream.end(), separator.begin(), separator.end());
                teacher_ids.insert(teacher_ids.end(),
                                   separator.size() * static_cast<std::size_t>(k), -1);
                teacher_logits.insert(teacher_logits.end(),
                                      separator.size() * static_cast<std::size_t>(k), 0.0f);
            }
            stream.insert(stream.end(), t.tokens.begin(), t.tokens.end());
            teacher_ids.insert(teacher_ids.end(), t.ids.begin(), t.ids.end());
            teacher_logits.insert(teacher_logits.end(), t.logits.begin(), t.logits.end());
            teacher_ids.insert(teacher_ids.end(), static_cast<std::size_t>(k), -1);  // last token
            teacher_logits.insert(teacher_logits.end(), static_cast<std::size_t>(k), 0.0f);
        }
        TokenWindows w(teacher == nullptr ? tokenizer.encode(text) : std::move(stream),
                       options.max_seq_len, options.stride, static_cast<std::int64_t>(text.size()));
        if (teacher != nullptr) w.set_teacher(k, std::move(teacher_ids), std::move(teacher_logits));
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
