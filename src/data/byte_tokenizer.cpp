#include "structseq/core/error.h"
#include "structseq/data/tokenizer.h"
#include "structseq/io/atomic_file.h"

#include <nlohmann/json.hpp>

namespace structseq {

namespace {

class ByteTokenizer final : public Tokenizer {
public:
    std::string type() const override { return "byte"; }
    std::int64_t vocab_size() const override { return 256; }
    std::vector<std::int64_t> encode(std::string_view text) const override {
        std::vector<std::int64_t> ids(text.size());
        for (std::size_t i = 0; i < text.size(); ++i) ids[i] = static_cast<unsigned char>(text[i]);
        return ids;
    }
    std::string decode(std::span<const std::int64_t> ids) const override {
        std::string text(ids.size(), '\0');
        for (std::size_t i = 0; i < ids.size(); ++i) {
            if (ids[i] < 0 || ids[i] > 255) {
                fail("byte tokenizer: token id {} is outside the vocabulary [0, 256)", ids[i]);
            }
            text[i] = static_cast<char>(ids[i]);
        }
        return text;
    }
    void save(const std::string& directory) const override {
        const nlohmann::json j = {{"type", "byte"}, {"vocab_size", 256}};
        io::write_file_atomic(directory + "/tokenizer.json", j.dump(2) + "\n");
    }
};

}  // namespace

std::unique_ptr<Tokenizer> make_byte_tokenizer() {
    return std::make_unique<ByteTokenizer>();
}

}  // namespace structseq
