#pragma once
// Teachers that write synthetic training text (structseq create-synthetic):
//   model:DIR       a model trained by `structseq train` (its best checkpoint), sampling on its
//                   recurrent state; it can also give its top-k next-token logits at every
//                   position, for distillation;
//   ollama:MODEL    a running Ollama server's /api/generate (non-streaming), e.g. ollama:phi4-mini;
//                   text only — Ollama returns no logits.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace structseq {

struct TeacherRequest {
    std::string prompt;
    std::int64_t max_tokens = 256;
    double temperature = 0.7;
    std::uint64_t seed = 0;
    std::int64_t top_k_logits = 0;  // > 0: also the teacher's k largest logits per position
};

struct TeacherSample {
    std::string completion;
    // With top_k_logits (model teachers): the token ids of prompt + completion, and for each
    // position but the last the teacher's k most likely next tokens (id, logit).
    std::vector<std::int64_t> tokens;
    std::vector<std::vector<std::pair<std::int64_t, float>>> top_logits;
};

class Teacher {
public:
    virtual ~Teacher() = default;
    virtual std::string name() const = 0;
    virtual bool gives_logits() const = 0;
    virtual TeacherSample complete(const TeacherRequest& request) const = 0;
};

// "model:DIR" or "ollama:MODEL" (`ollama_url`: the server, e.g. http://127.0.0.1:11434).
std::unique_ptr<Teacher> make_teacher(const std::string& spec, const std::string& ollama_url);

}  // namespace structseq
