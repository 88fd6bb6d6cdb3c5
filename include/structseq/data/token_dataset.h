#pragma once
// A language-modelling dataset: documents split into train / validation / test by document
// (a shuffle seeded by `seed`, then the first round(val_split · n) documents for validation —
// at least one when val_split > 0 — the next round(test_split · n) for test, the rest for
// training), each split's documents joined by a blank line and tokenized into one stream, and the
// stream cut into windows of max_seq_len + 1 tokens starting every `stride` tokens: a window's
// first max_seq_len tokens are the inputs, its last max_seq_len the next-token targets.

#include "structseq/core/tensor.h"
#include "structseq/data/text_corpus.h"
#include "structseq/data/tokenizer.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace structseq {

struct DatasetOptions {
    std::int64_t max_seq_len = 1024;
    std::int64_t stride = 512;
    double val_split = 0.1;
    double test_split = 0.1;
    std::uint64_t seed = 42;
};

class TokenWindows {
public:
    TokenWindows() = default;
    // `text_bytes`: the size of the text the stream encodes (for bits per byte).
    TokenWindows(std::vector<std::int64_t> stream, std::int64_t length, std::int64_t stride,
                 std::int64_t text_bytes);

    std::int64_t size() const { return windows_; }  // number of windows
    std::int64_t length() const { return length_; }
    std::int64_t stream_tokens() const { return static_cast<std::int64_t>(stream_.size()); }
    double bytes_per_token() const;
    // The windows at `indices` (each in [0, size())): inputs and targets, (count, length) int64.
    void batch(std::span<const std::int64_t> indices, Tensor& tokens, Tensor& targets) const;

    // Teacher targets aligned with the stream (position p: the teacher's top-k for token p + 1;
    // id −1 where there is none), (stream, k) row-major.
    void set_teacher(std::int64_t k, std::vector<std::int64_t> ids, std::vector<float> logits);
    bool has_teacher() const { return teacher_k_ > 0; }
    // The teacher targets of the windows at `indices`: ids (count, length, k) int64 and logits
    // (count, length, k) float32.
    void teacher_batch(std::span<const std::int64_t> indices, Tensor& ids, Tensor& logits) const;

private:
    std::vector<std::int64_t> stream_;
    std::int64_t length_ = 0, stride_ = 1, windows_ = 0, text_bytes_ = 0;
    std::int64_t teacher_k_ = 0;
    std::vector<std::int64_t> teacher_ids_;
    std::vector<float> teacher_logits_;
};

struct TokenDataset {
    TokenWindows train, val, test;  // val and test hold no windows when their split is 0
    std::int64_t documents = 0;
};

// Errors: no documents; a split too small for one window (names the split, its tokens and
// max_seq_len); a text the tokenizer cannot encode. With `teacher` (one per document), each
// document is its recorded teacher tokens (what the teacher's logits follow; the text counts only
// for bits per byte), separators come from the tokenizer, and every split carries the teacher
// targets.
TokenDataset build_token_dataset(const std::vector<std::string>& documents,
                                 const Tokenizer& tokenizer, const DatasetOptions& options,
                                 const std::vector<TeacherTargets>* teacher = nullptr);

}  // namespace structseq
