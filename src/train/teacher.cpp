#include "structseq/train/teacher.h"

#include "structseq/core/error.h"
#include "structseq/data/utf8_stream.h"
#include "structseq/io/http_client.h"
#include "structseq/model/text_generation.h"
#include "structseq/train/checkpoint.h"

#include <nlohmann/json.hpp>

namespace structseq {

namespace {

class ModelTeacher final : public Teacher {
public:
    explicit ModelTeacher(const std::string& directory)
        : directory_(directory), loaded_(load_checkpoint(find_checkpoint(directory, "best"))) {}
    std::string name() const override { return "model:" + directory_; }
    bool gives_logits() const override { return true; }
    TeacherSample complete(const TeacherRequest& r) const override {
        const std::vector<std::int64_t> prompt = loaded_.tokenizer->encode(r.prompt);
        GenerationOptions options;
        options.max_new_tokens = r.max_tokens;
        options.sampling.temperature = r.temperature;
        options.sampling.top_k = 0;
        options.sampling.top_p = 1.0;
        options.seed = r.seed;
        options.vocab = loaded_.tokenizer->vocab_size();
        options.record_top_k = r.top_k_logits;
        GeneratedTokens g = generate_tokens(loaded_.model, prompt, options);
        TeacherSample s;
        Utf8Stream utf8;
        s.completion = utf8.push(loaded_.tokenizer->decode(g.tokens)) + utf8.finish();
        if (r.top_k_logits > 0) {
            s.tokens = prompt;
            s.tokens.insert(s.tokens.end(), g.tokens.begin(), g.tokens.end());
            s.top_logits = std::move(g.top_logits);
        }
        return s;
    }

private:
    std::string directory_;
    LoadedCheckpoint loaded_;
};

class OllamaTeacher final : public Teacher {
public:
    OllamaTeacher(std::string model, std::string url)
        : model_(std::move(model)), url_(std::move(url)) {}
    std::string name() const override { return "ollama:" + model_; }
    bool gives_logits() const override { return false; }
    TeacherSample complete(const TeacherRequest& r) const override {
        const nlohmann::json request = {
            {"model", model_},
            {"prompt", r.prompt},
            {"stream", false},
            {"options",
             {{"temperature", r.temperature}, {"seed", r.seed}, {"num_predict", r.max_tokens}}},
        };
        const std::string endpoint = url_ + "/api/generate";
        const std::string body = io::http_post_json(endpoint, request.dump());
        nlohmann::json reply;
        try {
            reply = nlohmann::json::parse(body);
        } catch (const nlohmann::json::exception&) {
            fail("{}: the reply is not JSON: {}", endpoint, body.substr(0, 200));
        }
        if (reply.contains("error")) fail("{}: {}", endpoint, reply["error"].dump());
        if (!reply.contains("response") || !reply["response"].is_string()) {
            fail("{}: the reply has no \"response\" text: {}", endpoint, body.substr(0, 200));
        }
        TeacherSample s;
        s.completion = reply["response"].get<std::string>();
        return s;
    }

private:
    std::string model_, url_;
};

}  // namespace

std::unique_ptr<Teacher> make_teacher(const std::string& spec, const std::string& ollama_url) {
    if (spec.starts_with("model:") && spec.size() > 6) {
        return std::make_unique<ModelTeacher>(spec.substr(6));
    }
    if (spec.starts_with("ollama:") && spec.size() > 7) {
        std::string url = ollama_url;
        while (url.ends_with('/')) url.pop_back();
        return std::make_unique<OllamaTeacher>(spec.substr(7), url);
    }
    fail("--teacher: '{}' is neither model:DIR (a model trained by structseq) nor ollama:MODEL",
         spec);
}

}  // namespace structseq
