#pragma once
// The documents of a dataset source, read locally (nothing is ever downloaded):
//   "bundled:kjv"       the bundled King James Bible (data/kjv.txt.gz, compiled into the
//                       library): one document per chapter;
//   FILE.jsonl          one JSON object per line, its `text_field` string a document (also
//                       FILE.jsonl.zst, zstd-compressed, as the Pile is distributed);
//   FILE.json           a JSON array of such objects (or of strings), or JSON lines;
//   DIRECTORY           every regular file below it, in path order, read as text files;
//   any other FILE      text: its blank-line-separated paragraphs are the documents.
// Errors name the path (and line) of what cannot be read.

#include <cstdint>
#include <string>
#include <vector>

namespace structseq {

inline constexpr const char* kBundledCorpus = "bundled:kjv";

std::vector<std::string> read_documents(const std::string& source,
                                        const std::string& text_field = "text");

// A document's teacher targets, from `structseq create-synthetic --distillation`: its token
// ids, and for each position but the last the teacher's k most likely next tokens,
// ids and logits (tokens − 1, k) row-major.
struct TeacherTargets {
    std::vector<std::int64_t> tokens;
    std::int64_t k = 0;
    std::vector<std::int64_t> ids;
    std::vector<float> logits;
};

// The teacher targets of each document of a .json / .jsonl source, in read_documents' order;
// empty when its records carry none ("tokens", "top_ids", "top_logits"). Error naming the line
// of a record whose arrays disagree in size.
std::vector<TeacherTargets> read_teacher_targets(const std::string& source);

// The documents of a dataset of `type` (dataset.type): "wikitext103" reads WikiText-103 as
// published — a folder's wiki.{train,valid,test}.{raw,tokens} (all three: the run makes its own
// split), or one such file — one document per article (an article starts at a top-level
// " = Title = " line); "pile" and the others read_documents, which takes the Pile's .jsonl.zst
// as it is distributed.
std::vector<std::string> read_dataset_documents(const std::string& type, const std::string& source,
                                                const std::string& text_field = "text");

// WikiText's articles: the text cut before each top-level heading line (" = Title = ", not
// " = = Section = = ").
std::vector<std::string> wikitext_articles(const std::string& text);

// The bundled corpus as one text (4.1 MB of ASCII).
std::string bundled_corpus_text();

// The blank-line-separated paragraphs of `text` (lines of spaces count as blank).
std::vector<std::string> paragraphs(const std::string& text);

}  // namespace structseq
