#include "structseq/data/tokenizer.h"
#include "structseq/io/read_file.h"

#include "structseq/core/error.h"

#include <nlohmann/json.hpp>

#include <filesystem>

namespace structseq {

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
    std::error_code error;
    const std::string file =
        std::filesystem::is_directory(path, error) ? path + "/tokenizer.json" : path;
    const std::string text = io::read_file(file, "the tokenizer");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        fail("{}: not valid JSON ({})", file, e.what());
    }
    if (j.is_object() && j.value("type", "") == "byte") return make_byte_tokenizer();
    if (j.is_object() && j.value("type", "") == "sentencepiece") {
        const std::filesystem::path model =
            std::filesystem::path(file).parent_path() / j.value("model_file", "tokenizer.model");
        return load_sentencepiece_tokenizer(model.string());
    }
    if (j.is_object() && j.contains("model")) return make_huggingface_tokenizer(text, file);
    fail("{}: neither structseq's byte tokenizer nor a Hugging Face tokenizer.json", file);
}

}  // namespace structseq
