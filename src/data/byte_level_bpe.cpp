// The byte-level BPE of a Hugging Face tokenizer.json (GPT-2, GPT-NeoX, Mamba's tokenizer):
//   1. added tokens are cut out of the text first (leftmost, longest), each its own id;
//   2. each piece between them is pre-tokenized by GPT-2's pattern
//        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//      (with add_prefix_space, a space first), written out as a scanner over code points, the
//      Unicode classes from ICU (\s: White_Space; \p{L}, \p{N}: general categories L*, N*);
//   3. each pre-token's UTF-8 bytes become characters through GPT-2's byte-to-unicode table, and
//      the lowest-ranked adjacent pair in `merges` is merged until none is left;
//   4. decode maps every character of a token back to its byte (a token with a character
//      outside the table, such as an added token with a space, contributes its own UTF-8).
// Normalizers other than none and NFC are refused; NFC is assumed already applied to the text.

#include "structseq/core/error.h"
#include "structseq/data/tokenizer.h"
#include "structseq/io/atomic_file.h"

#include <unicode/uchar.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <climits>
#include <unordered_map>

namespace structseq {

namespace {

using Json = nlohmann::json;

std::string utf8_of(char32_t c) {
    std::string s;
    if (c < 0x80) {
        s += static_cast<char>(c);
    } else if (c < 0x800) {
        s += static_cast<char>(0xC0 | (c >> 6));
        s += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        s += static_cast<char>(0xE0 | (c >> 12));
        s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        s += static_cast<char>(0x80 | (c & 0x3F));
    } else {
        s += static_cast<char>(0xF0 | (c >> 18));
        s += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
        s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        s += static_cast<char>(0x80 | (c & 0x3F));
    }
    return s;
}

// The code points of UTF-8 `text` with the byte offset of each (and of the end); Error at the
// first malformed byte.
void decode_utf8(std::string_view text, std::vector<char32_t>& points,
                 std::vector<std::size_t>& offsets) {
    std::size_t i = 0;
    while (i < text.size()) {
        const auto b = static_cast<unsigned char>(text[i]);
        const int length = b < 0x80         ? 1
                           : (b >> 5) == 6  ? 2
                           : (b >> 4) == 14 ? 3
                           : (b >> 3) == 30 ? 4
                                            : 0;
        if (length == 0 || i + static_cast<std::size_t>(length) > text.size()) {
            fail("tokenizer: the text is not valid UTF-8 (byte {} of {})", i, text.size());
        }
        char32_t c = length == 1 ? b : b & (0x7F >> length);
        for (int k = 1; k < length; ++k) {
            const auto next = static_cast<unsigned char>(text[i + static_cast<std::size_t>(k)]);
            if ((next & 0xC0) != 0x80) {
                fail("tokenizer: the text is not valid UTF-8 (byte {} of {})", i, text.size());
            }
            c = (c << 6) | (next & 0x3F);
        }
        points.push_back(c);
        offsets.push_back(i);
        i += static_cast<std::size_t>(length);
    }
    offsets.push_back(text.size());
}

// The key of merge pair (a, b): byte-level symbols never hold the byte 0x01.
std::string pair_key(const std::string& a, const std::string& b) {
    std::string key;
    key.reserve(a.size() + 1 + b.size());
    key.append(a);
    key.push_back('\x01');
    key.append(b);
    return key;
}

enum class CharClass { Space, Letter, Number, Other };

CharClass class_of(char32_t c) {
    const auto u = static_cast<UChar32>(c);
    if (u_isUWhiteSpace(u)) return CharClass::Space;
    switch (u_charType(u)) {
        case U_UPPERCASE_LETTER:
        case U_LOWERCASE_LETTER:
        case U_TITLECASE_LETTER:
        case U_MODIFIER_LETTER:
        case U_OTHER_LETTER:
            return CharClass::Letter;
        case U_DECIMAL_DIGIT_NUMBER:
        case U_LETTER_NUMBER:
        case U_OTHER_NUMBER:
            return CharClass::Number;
        default:
            return CharClass::Other;
    }
}

// GPT-2's pre-tokenization: [begin, end) code-point ranges of `points` (see the top).
std::vector<std::pair<std::size_t, std::size_t>> pre_tokenize(const std::vector<char32_t>& points) {
    static const std::array<std::u32string_view, 7> kContractions = {U"s", U"t",  U"re", U"ve",
                                                                     U"m", U"ll", U"d"};
    std::vector<std::pair<std::size_t, std::size_t>> pieces;
    const std::size_t n = points.size();
    std::vector<CharClass> cls(n);
    for (std::size_t i = 0; i < n; ++i) cls[i] = class_of(points[i]);
    std::size_t i = 0;
    while (i < n) {
        if (points[i] == U'\'') {
            bool matched = false;
            for (const std::u32string_view suffix : kContractions) {
                if (i + 1 + suffix.size() <= n &&
                    std::equal(suffix.begin(), suffix.end(),
                               points.begin() + static_cast<std::ptrdiff_t>(i + 1))) {
                    pieces.emplace_back(i, i + 1 + suffix.size());
                    i += 1 + suffix.size();
                    matched = true;
                    break;
                }
            }
            if (matched) continue;
        }
        const std::size_t j =
            points[i] == U' ' && i + 1 < n && cls[i + 1] != CharClass::Space ? i + 1 : i;
        if (cls[j] != CharClass::Space) {  // ' ?\p{L}+', ' ?\p{N}+' or ' ?[^\s\p{L}\p{N}]+'
            std::size_t k = j + 1;
            while (k < n && cls[k] == cls[j]) ++k;
            pieces.emplace_back(i, k);
            i = k;
            continue;
        }
        std::size_t k = i;  // a run of white space
        while (k < n && cls[k] == CharClass::Space) ++k;
        if (k == n) {
            pieces.emplace_back(i, n);  // '\s+(?!\S)' to the end
            i = n;
        } else if (k - i >= 2) {
            pieces.emplace_back(i, k - 1);  // '\s+(?!\S)' leaves the last one
            i = k - 1;
        } else {
            pieces.emplace_back(i, i + 1);  // '\s+': one white-space character before \S
            i += 1;
        }
    }
    return pieces;
}

class ByteLevelBpe final : public Tokenizer {
public:
    ByteLevelBpe(const Json& j, std::string source) : source_(std::move(source)), json_(j.dump()) {
        int n = 0;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
            const char32_t c =
                printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
            byte_to_char_[static_cast<std::size_t>(b)] = utf8_of(c);
            char_to_byte_[c] = static_cast<unsigned char>(b);
        }
        const Json& model = j.at("model");
        for (const auto& [token, id] : model.at("vocab").items()) {
            vocab_[token] = id.get<std::int64_t>();
            set_token(id.get<std::int64_t>(), token);
        }
        std::int64_t rank = 0;
        for (const Json& merge : model.at("merges")) {
            std::string a, b;
            if (merge.is_string()) {
                const std::string m = merge.get<std::string>();
                const auto space = m.find(' ');
                if (space == std::string::npos) fail("{}: merge \"{}\" has no space", source_, m);
                a = m.substr(0, space);
                b = m.substr(space + 1);
            } else {
                a = merge.at(0).get<std::string>();
                b = merge.at(1).get<std::string>();
            }
            ranks_.emplace(pair_key(a, b), rank++);
        }
        ignore_merges_ = model.value("ignore_merges", false);
        if (j.contains("added_tokens")) {
            for (const Json& t : j.at("added_tokens")) {
                const std::string content = t.at("content").get<std::string>();
                const auto id = t.at("id").get<std::int64_t>();
                added_.emplace_back(content, id);
                set_token(id, content);
            }
        }
        std::sort(added_.begin(), added_.end(),
                  [](const auto& x, const auto& y) { return x.first.size() > y.first.size(); });
        read_pre_tokenizer(j.contains("pre_tokenizer") ? j.at("pre_tokenizer") : Json());
        if (j.contains("normalizer") && !j.at("normalizer").is_null()) {
            const std::string type = j.at("normalizer").value("type", "");
            if (type != "NFC") {
                fail(
                    "{}: normalizer '{}' is not supported (only none, or NFC, which is assumed "
                    "already applied to the text)",
                    source_, type);
            }
        }
    }

    std::string type() const override { return "huggingface"; }
    std::int64_t vocab_size() const override { return static_cast<std::int64_t>(tokens_.size()); }

    std::vector<std::int64_t> encode(std::string_view text) const override {
        std::vector<std::int64_t> ids;
        std::size_t start = 0, i = 0;
        while (i < text.size()) {
            const auto match = std::find_if(added_.begin(), added_.end(), [&](const auto& a) {
                return !a.first.empty() && text.substr(i).starts_with(a.first);
            });
            if (match == added_.end()) {
                ++i;
                continue;
            }
            encode_piece(text.substr(start, i - start), ids);
            ids.push_back(match->second);
            i += match->first.size();
            start = i;
        }
        encode_piece(text.substr(start), ids);
        return ids;
    }

    std::string decode(std::span<const std::int64_t> ids) const override {
        std::string out;
        for (const std::int64_t id : ids) {
            if (id < 0 || id >= vocab_size() || !known_[static_cast<std::size_t>(id)]) {
                fail("tokenizer: token id {} is not in the vocabulary of {}", id, source_);
            }
            const std::string& token = tokens_[static_cast<std::size_t>(id)];
            std::vector<char32_t> points;
            std::vector<std::size_t> offsets;
            decode_utf8(token, points, offsets);
            std::string bytes;
            bool mapped = true;
            for (const char32_t c : points) {
                const auto it = char_to_byte_.find(c);
                if (it == char_to_byte_.end()) {
                    mapped = false;
                    break;
                }
                bytes += static_cast<char>(it->second);
            }
            out += mapped ? bytes : token;
        }
        return out;
    }

    void save(const std::string& directory) const override {
        io::write_file_atomic(directory + "/tokenizer.json", json_);
    }

private:
    void set_token(std::int64_t id, const std::string& token) {
        if (id < 0 || id > INT32_MAX) fail("{}: token id {} out of range", source_, id);
        if (tokens_.size() <= static_cast<std::size_t>(id)) {
            tokens_.resize(static_cast<std::size_t>(id) + 1);
            known_.resize(tokens_.size(), false);
        }
        tokens_[static_cast<std::size_t>(id)] = token;
        known_[static_cast<std::size_t>(id)] = true;
    }

    void read_pre_tokenizer(const Json& p) {
        const std::string type = p.is_object() ? p.value("type", "") : "";
        if (type == "ByteLevel") {
            add_prefix_space_ = p.value("add_prefix_space", false);
            if (!p.value("use_regex", true)) {
                fail("{}: a ByteLevel pre-tokenizer without its pattern is not supported", source_);
            }
            return;
        }
        fail("{}: pre_tokenizer '{}' is not supported (expected GPT-2's ByteLevel)", source_, type);
    }

    void encode_piece(std::string_view text, std::vector<std::int64_t>& ids) const {
        if (text.empty()) return;
        std::string prefixed;
        if (add_prefix_space_ && text.front() != ' ') {
            prefixed.reserve(text.size() + 1);
            prefixed.push_back(' ');
            prefixed.append(text);
            text = prefixed;
        }
        std::vector<char32_t> points;
        std::vector<std::size_t> offsets;
        decode_utf8(text, points, offsets);
        for (const auto& [begin, end] : pre_tokenize(points)) {
            const std::string_view bytes =
                text.substr(offsets[begin], offsets[end] - offsets[begin]);
            std::vector<std::string> symbols;
            for (const char b : bytes)
                symbols.push_back(byte_to_char_[static_cast<unsigned char>(b)]);
            merge(symbols);
            for (const std::string& s : symbols) {
                const auto it = vocab_.find(s);
                if (it == vocab_.end()) {
                    fail("tokenizer: '{}' (from \"{}\") is not in the vocabulary of {}", s,
                         std::string(bytes), source_);
                }
                ids.push_back(it->second);
            }
        }
    }

    // BPE: merge the lowest-ranked adjacent pair (leftmost first) until no pair has a rank.
    void merge(std::vector<std::string>& symbols) const {
        if (ignore_merges_) {
            std::string whole;
            for (const std::string& s : symbols) whole += s;
            if (vocab_.contains(whole)) {
                symbols = {whole};
                return;
            }
        }
        while (symbols.size() > 1) {
            std::int64_t best = -1;
            std::size_t at = 0;
            for (std::size_t k = 0; k + 1 < symbols.size(); ++k) {
                const auto it = ranks_.find(pair_key(symbols[k], symbols[k + 1]));
                if (it != ranks_.end() && (best < 0 || it->second < best)) {
                    best = it->second;
                    at = k;
                }
            }
            if (best < 0) return;
            symbols[at] += symbols[at + 1];
            symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(at + 1));
        }
    }

    std::string source_;
    std::string json_;  // the file, kept to be saved with a model
    std::array<std::string, 256> byte_to_char_;
    std::unordered_map<char32_t, unsigned char> char_to_byte_;
    std::unordered_map<std::string, std::int64_t> vocab_;
    std::unordered_map<std::string, std::int64_t> ranks_;
    std::vector<std::pair<std::string, std::int64_t>> added_;  // longest first
    std::vector<std::string> tokens_;                          // by id
    std::vector<bool> known_;
    bool add_prefix_space_ = false;
    bool ignore_merges_ = false;
};

}  // namespace

std::unique_ptr<Tokenizer> make_huggingface_tokenizer(const std::string& tokenizer_json,
                                                      const std::string& source) {
    Json j;
    try {
        j = Json::parse(tokenizer_json);
    } catch (const Json::exception& e) {
        fail("{}: not valid JSON ({})", source, e.what());
    }
    const std::string model_type = j.contains("model") ? j["model"].value("type", "") : "";
    if (model_type != "BPE") {
        fail("{}: tokenizer model '{}' is not supported (expected a byte-level BPE)", source,
             model_type);
    }
    try {
        return std::make_unique<ByteLevelBpe>(j, source);
    } catch (const Json::exception& e) {
        fail("{}: malformed tokenizer ({})", source, e.what());
    }
}

}  // namespace structseq
