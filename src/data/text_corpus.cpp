#include "structseq/data/text_corpus.h"
#include "structseq/io/read_file.h"

#include "structseq/core/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <sstream>

namespace structseq {

namespace {

namespace fs = std::filesystem;

// A dataset file's text, decompressed when it ends in .zst.
std::string read_file(const fs::path& path) {
    return path.extension() == ".zst" ? io::read_zstd_file(path.string(), "the dataset file")
                                      : io::read_file(path.string(), "the dataset file");
}

// The extension that says how to parse a file: "data.jsonl.zst" → ".jsonl".
std::string format_of(const fs::path& path) {
    return path.extension() == ".zst" ? path.stem().extension().string()
                                      : path.extension().string();
}

std::string text_of(const nlohmann::json& item, const std::string& field,
                    const std::string& where) {
    if (item.is_string()) return item.get<std::string>();
    if (item.is_object() && item.contains(field) && item[field].is_string()) {
        return item[field].get<std::string>();
    }
    fail("{}: expected an object with a string \"{}\" field (dataset.text_field)", where, field);
}

std::vector<std::string> json_documents(const fs::path& path, const std::string& field) {
    const std::string bytes = read_file(path);
    std::vector<std::string> documents;
    const auto first = bytes.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && bytes[first] == '[') {
        nlohmann::json array;
        try {
            array = nlohmann::json::parse(bytes);
        } catch (const nlohmann::json::exception& e) {
            fail("{}: not valid JSON ({})", path.string(), e.what());
        }
        for (std::size_t i = 0; i < array.size(); ++i) {
            documents.push_back(
                text_of(array[i], field, path.string() + " item " + std::to_string(i)));
        }
        return documents;
    }
    std::istringstream lines(bytes);
    std::string line;
    for (std::int64_t number = 1; std::getline(lines, line); ++number) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        const std::string where = path.string() + " line " + std::to_string(number);
        nlohmann::json item;
        try {
            item = nlohmann::json::parse(line);
        } catch (const nlohmann::json::exception& e) {
            fail("{}: not valid JSON ({})", where, e.what());
        }
        documents.push_back(text_of(item, field, where));
    }
    return documents;
}

void append(std::vector<std::string>& to, std::vector<std::string> from) {
    for (std::string& s : from) to.push_back(std::move(s));
}

}  // namespace

std::vector<std::string> paragraphs(const std::string& text) {
    std::vector<std::string> out;
    std::string current;
    std::istringstream lines(text);
    std::string line;
    const auto flush = [&] {
        if (!current.empty()) out.push_back(std::move(current));
        current.clear();
    };
    while (std::getline(lines, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos) {
            flush();
            continue;
        }
        if (!current.empty()) current += '\n';
        current += line;
    }
    flush();
    return out;
}

std::vector<TeacherTargets> read_teacher_targets(const std::string& source) {
    const fs::path path(source);
    const std::string extension = path.extension().string();
    std::error_code error;
    if ((extension != ".jsonl" && extension != ".json") || !fs::is_regular_file(path, error)) {
        return {};
    }
    std::vector<TeacherTargets> out;
    std::istringstream lines(read_file(path));
    std::string line;
    for (std::int64_t number = 1; std::getline(lines, line); ++number) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        if (line.front() == '[') return {};  // a JSON array: text only
        const std::string where = source + " line " + std::to_string(number);
        try {
            const nlohmann::json record = nlohmann::json::parse(line);
            if (!record.contains("top_ids")) return {};
            TeacherTargets t;
            t.tokens = record.at("tokens").get<std::vector<std::int64_t>>();
            const auto& ids = record.at("top_ids");
            const auto& logits = record.at("top_logits");
            t.k = ids.empty() ? 0 : static_cast<std::int64_t>(ids.at(0).size());
            if (ids.size() + 1 != t.tokens.size() || logits.size() != ids.size()) {
                fail("{}: {} tokens need {} rows of top_ids and top_logits, found {} and {}", where,
                     t.tokens.size(), t.tokens.size() - 1, ids.size(), logits.size());
            }
            for (std::size_t r = 0; r < ids.size(); ++r) {
                if (static_cast<std::int64_t>(ids[r].size()) != t.k ||
                    logits[r].size() != ids[r].size()) {
                    fail("{}: row {} of top_ids / top_logits does not hold {} values", where, r,
                         t.k);
                }
                for (std::size_t j = 0; j < ids[r].size(); ++j) {
                    t.ids.push_back(ids[r][j].get<std::int64_t>());
                    t.logits.push_back(logits[r][j].get<float>());
                }
            }
            out.push_back(std::move(t));
        } catch (const nlohmann::json::exception& e) {
            fail("{}: {}", where, e.what());
        }
    }
    return out;
}

std::vector<std::string> read_documents(const std::string& source, const std::string& text_field) {
    if (source == kBundledCorpus) return paragraphs(bundled_corpus_text());
    if (source.starts_with("bundled:")) {
        fail("dataset.data_path: unknown bundled corpus '{}' (the bundled one is '{}')", source,
             kBundledCorpus);
    }
    const fs::path path(source);
    std::error_code error;
    if (fs::is_directory(path, error)) {
        std::vector<fs::path> files;
        for (const auto& entry : fs::recursive_directory_iterator(path)) {
            if (entry.is_regular_file()) files.push_back(entry.path());
        }
        std::sort(files.begin(), files.end());
        std::vector<std::string> documents;
        for (const fs::path& file : files)
            append(documents, read_documents(file.string(), text_field));
        return documents;
    }
    if (!fs::exists(path, error)) {
        fail(
            "dataset.data_path: '{}' does not exist (a text file, a directory of them, a .jsonl "
            "file, or '{}'); nothing is downloaded",
            source, kBundledCorpus);
    }
    const std::string extension = format_of(path);
    if (extension == ".jsonl" || extension == ".json") return json_documents(path, text_field);
    return paragraphs(read_file(path));
}

std::vector<std::string> wikitext_articles(const std::string& text) {
    std::vector<std::string> articles;
    std::string current;
    std::istringstream lines(text);
    std::string line;
    const auto flush = [&] {
        const std::vector<std::string> parts = paragraphs(current);
        std::string article;
        for (const std::string& p : parts) article += (article.empty() ? "" : "\n\n") + p;
        if (!article.empty()) articles.push_back(std::move(article));
        current.clear();
    };
    while (std::getline(lines, line)) {
        const auto first = line.find_first_not_of(' ');
        const auto last = line.find_last_not_of(" \r");
        const bool heading =
            first != std::string::npos && last > first + 2 && line.compare(first, 2, "= ") == 0 &&
            line.compare(first, 3, "= =") != 0 && line.compare(last - 1, 2, " =") == 0;
        if (heading) flush();
        current += line + "\n";
    }
    flush();
    return articles;
}

std::vector<std::string> read_dataset_documents(const std::string& type, const std::string& source,
                                                const std::string& text_field) {
    if (type != "wikitext103") return read_documents(source, text_field);
    const fs::path path(source);
    std::vector<fs::path> files;
    std::error_code error;
    if (fs::is_directory(path, error)) {
        for (const char* split : {"train", "valid", "test"}) {
            for (const char* kind : {"raw", "tokens"}) {
                const fs::path file = path / fmt::format("wiki.{}.{}", split, kind);
                if (fs::exists(file, error)) {
                    files.push_back(file);
                    break;
                }
            }
        }
        if (files.empty()) {
            fail(
                "dataset.data_path: {} holds no wiki.train.raw / wiki.train.tokens (WikiText-103 "
                "as published); nothing is downloaded",
                source);
        }
    } else {
        files.push_back(path);
    }
    std::vector<std::string> documents;
    for (const fs::path& file : files) append(documents, wikitext_articles(read_file(file)));
    return documents;
}

}  // namespace structseq
