// SentencePiece (Kudo & Richardson 2018) through libsentencepiece: a BPE model trained on a
// dataset's documents, with byte fallback so that every text encodes. Saved as tokenizer.model
// (the serialized model) beside a tokenizer.json {"type": "sentencepiece", "model_file": …}.

#include "structseq/core/error.h"
#include "structseq/core/threads.h"
#include "structseq/data/tokenizer.h"
#include "structseq/io/atomic_file.h"
#include "structseq/io/read_file.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>
#include <nlohmann/json.hpp>

namespace structseq {

namespace {

class DocumentLines final : public sentencepiece::SentenceIterator {
public:
    explicit DocumentLines(const std::vector<std::string>& documents) : documents_(documents) {
        advance();
    }
    bool done() const override { return document_ >= documents_.size(); }
    void Next() override { advance(); }
    const std::string& value() const override { return line_; }
    sentencepiece::util::Status status() const override { return {}; }

private:
    // The next non-empty line of the documents.
    void advance() {
        while (document_ < documents_.size()) {
            const std::string& d = documents_[document_];
            if (offset_ >= d.size()) {
                ++document_;
                offset_ = 0;
                continue;
            }
            const auto end = std::min(d.find('\n', offset_), d.size());
            line_ = d.substr(offset_, end - offset_);
            offset_ = end + 1;
            if (!line_.empty()) return;
        }
    }
    const std::vector<std::string>& documents_;
    std::size_t document_ = 0, offset_ = 0;
    std::string line_;
};

class SentencePieceTokenizer final : public Tokenizer {
public:
    SentencePieceTokenizer(std::string serialized, const std::string& source)
        : serialized_(std::move(serialized)) {
        const auto status = processor_.LoadFromSerializedProto(serialized_);
        if (!status.ok()) fail("{}: not a SentencePiece model ({})", source, status.ToString());
    }
    std::string type() const override { return "sentencepiece"; }
    std::int64_t vocab_size() const override { return processor_.GetPieceSize(); }
    std::vector<std::int64_t> encode(std::string_view text) const override {
        std::vector<int> ids;
        const auto status = processor_.Encode(std::string(text), &ids);
        if (!status.ok()) fail("sentencepiece: cannot encode the text ({})", status.ToString());
        return {ids.begin(), ids.end()};
    }
    std::string decode(std::span<const std::int64_t> ids) const override {
        std::vector<int> narrow;
        for (const std::int64_t id : ids) {
            if (id < 0 || id >= vocab_size()) {
                fail("sentencepiece: token id {} is outside the vocabulary [0, {})", id,
                     vocab_size());
            }
            narrow.push_back(static_cast<int>(id));
        }
        std::string text;
        const auto status = processor_.Decode(narrow, &text);
        if (!status.ok()) fail("sentencepiece: cannot decode ({})", status.ToString());
        return text;
    }
    void save(const std::string& directory) const override {
        io::write_file_atomic(directory + "/tokenizer.model", serialized_);
        const nlohmann::json j = {{"type", "sentencepiece"}, {"model_file", "tokenizer.model"}};
        io::write_file_atomic(directory + "/tokenizer.json", j.dump(2) + "\n");
    }

private:
    std::string serialized_;
    sentencepiece::SentencePieceProcessor processor_;
};

}  // namespace

std::unique_ptr<Tokenizer> train_sentencepiece_tokenizer(const std::vector<std::string>& documents,
                                                         std::int64_t vocab_size) {
    check_argument(vocab_size >= 300, "sentencepiece", "tokenizer.vocab_size",
                   std::to_string(vocab_size), ">= 300 (256 byte pieces plus learned ones)");
    DocumentLines lines(documents);
    if (lines.done()) fail("sentencepiece: the dataset has no text to train on");
    const std::unordered_map<std::string, std::string> options = {
        {"model_type", "bpe"},
        {"vocab_size", std::to_string(vocab_size)},
        {"character_coverage", "1.0"},
        {"byte_fallback", "true"},
        {"hard_vocab_limit", "false"},
        {"input_sentence_size", "2000000"},
        {"shuffle_input_sentence", "false"},
        {"num_threads", std::to_string(num_threads())},
        {"minloglevel", "2"},
    };
    std::string serialized;
    const auto status = sentencepiece::SentencePieceTrainer::Train(options, &lines, &serialized);
    if (!status.ok()) fail("sentencepiece: training failed ({})", status.ToString());
    return std::make_unique<SentencePieceTokenizer>(std::move(serialized), "trained model");
}

std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::string& model_file) {
    return std::make_unique<SentencePieceTokenizer>(
        io::read_file(model_file, "the SentencePiece model"), model_file);
}

}  // namespace structseq
