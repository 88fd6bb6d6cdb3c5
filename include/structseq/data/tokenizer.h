#pragma once
// Text ↔ token ids. A model directory keeps its tokenizer in tokenizer.json beside the weights;
// load_tokenizer reads it back.
//   byte: one token per byte, ids 0…255; decode(encode(s)) == s for every byte string.
//   huggingface: the byte-level BPE of a Hugging Face tokenizer.json (GPT-2 / GPT-NeoX style:
//     added tokens, GPT-2's pre-tokenizer pattern, byte-to-unicode map, ranked merges), encoding
//     and decoding as the `tokenizers` library does (src/data/byte_level_bpe.cpp).
//   sentencepiece: a BPE SentencePiece model trained on a dataset (libsentencepiece), byte
//     fallback on, saved as tokenizer.model.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace structseq {

class Tokenizer {
public:
    virtual ~Tokenizer() = default;
    virtual std::string type() const = 0;
    virtual std::int64_t vocab_size() const = 0;
    virtual std::vector<std::int64_t> encode(std::string_view text) const = 0;
    // Ids outside [0, vocab_size) are an Error naming the id.
    virtual std::string decode(std::span<const std::int64_t> ids) const = 0;
    // Writes tokenizer.json into `directory` (atomically).
    virtual void save(const std::string& directory) const = 0;
};

std::unique_ptr<Tokenizer> make_byte_tokenizer();

// A tokenizer.json's text (`source` names it in errors); Error for what is not a byte-level BPE.
std::unique_ptr<Tokenizer> make_huggingface_tokenizer(const std::string& tokenizer_json,
                                                      const std::string& source);

// A SentencePiece model of `vocab_size` pieces trained on the documents' lines.
std::unique_ptr<Tokenizer> train_sentencepiece_tokenizer(const std::vector<std::string>& documents,
                                                         std::int64_t vocab_size);
// A SentencePiece model file (tokenizer.model).
std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::string& model_file);

// The tokenizer a directory's tokenizer.json (or the given tokenizer.json file) describes; Error
// when it is missing, unreadable or of a kind not supported.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

}  // namespace structseq
