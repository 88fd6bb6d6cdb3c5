#include "structseq/data/token_dataset.h"

#include "test_util.h"

#include <gtest/gtest.h>

#include <numeric>
#include <set>

namespace structseq {
namespace {

std::vector<std::string> numbered_documents(int n) {
    std::vector<std::string> docs;
    for (int i = 0; i < n; ++i) docs.push_back(fmt::format("document {:03d} body text", i));
    return docs;
}

TEST(TokenWindows, CutsWindowsEveryStrideWithShiftedTargets) {
    std::vector<std::int64_t> stream(20);
    for (int i = 0; i < 20; ++i) stream[static_cast<std::size_t>(i)] = i;
    const TokenWindows w(stream, 5, 3, 40);
    EXPECT_EQ(w.size(), 5);  // starts 0, 3, 6, 9, 12 (12 + 5 + 1 ≤ 20; 15 + 6 > 20)
    EXPECT_DOUBLE_EQ(w.bytes_per_token(), 2.0);
    Tensor tokens, targets;
    const std::vector<std::int64_t> pick = {4, 0};
    w.batch(pick, tokens, targets);
    EXPECT_EQ(tokens.shape(), (Shape{2, 5}));
    for (int j = 0; j < 5; ++j) {
        EXPECT_EQ(tokens.data<std::int64_t>()[j], 12 + j);
        EXPECT_EQ(targets.data<std::int64_t>()[j], 13 + j);
        EXPECT_EQ(tokens.data<std::int64_t>()[5 + j], j);
    }
    const std::vector<std::int64_t> outside = {5};
    EXPECT_THROW(w.batch(outside, tokens, targets), Error);
}

TEST(TokenDataset, SplitsByDocumentDeterministicallyBySeed) {
    const auto tokenizer = make_byte_tokenizer();
    const std::vector<std::string> docs = numbered_documents(40);
    DatasetOptions o;
    o.max_seq_len = 8;
    o.stride = 4;
    o.val_split = 0.1;
    o.test_split = 0.2;
    o.seed = 7;
    const TokenDataset a = build_token_dataset(docs, *tokenizer, o);
    const TokenDataset b = build_token_dataset(docs, *tokenizer, o);
    o.seed = 8;
    const TokenDataset c = build_token_dataset(docs, *tokenizer, o);
    // 4 validation documents, 8 test, 28 training, each 22 bytes, joined by "\n\n".
    EXPECT_EQ(a.val.stream_tokens(), 4 * 22 + 3 * 2);
    EXPECT_EQ(a.test.stream_tokens(), 8 * 22 + 7 * 2);
    EXPECT_EQ(a.train.stream_tokens(), 28 * 22 + 27 * 2);
    const auto number_window = [](const TokenWindows& w) {  // "document NNN body…": the number
        Tensor tokens, targets;
        const std::vector<std::int64_t> third = {2};
        w.batch(third, tokens, targets);
        return std::vector<std::int64_t>(tokens.data<std::int64_t>(),
                                         tokens.data<std::int64_t>() + tokens.numel());
    };
    EXPECT_EQ(number_window(a.val), number_window(b.val));
    EXPECT_NE(number_window(a.val), number_window(c.val));
}

TEST(TokenDataset, ClearErrors) {
    const auto tokenizer = make_byte_tokenizer();
    DatasetOptions o;
    o.max_seq_len = 64;
    EXPECT_THROW(build_token_dataset({}, *tokenizer, o), Error);
    try {
        build_token_dataset(numbered_documents(30), *tokenizer, o);  // 3 validation docs: 81 tokens
        SUCCEED();
    } catch (const Error& e) {
        FAIL() << e.what();
    }
    o.max_seq_len = 200;
    try {
        build_token_dataset(numbered_documents(30), *tokenizer, o);
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("max_seq_len"), std::string::npos) << e.what();
    }
    o.max_seq_len = 4;
    o.val_split = 0.5;
    o.test_split = 0.5;
    EXPECT_THROW(build_token_dataset(numbered_documents(30), *tokenizer, o), Error);
}

}  // namespace
}  // namespace structseq

namespace structseq {
namespace {

// Teacher targets follow their documents through the shuffle and the joining: a window's row t
// holds the targets of its stream position, −1 on the separators and on each document's last
// token.
TEST(TokenDataset, CarriesTeacherTargetsAlignedWithTheStream) {
    const auto tokenizer = make_byte_tokenizer();
    const std::vector<std::string> docs = numbered_documents(10);
    std::vector<TeacherTargets> teacher;
    for (const std::string& d : docs) {
        TeacherTargets t;
        t.tokens = tokenizer->encode(d);
        t.k = 2;
        for (std::size_t p = 0; p + 1 < t.tokens.size(); ++p) {
            t.ids.insert(t.ids.end(), {t.tokens[p + 1], 0});  // the true next token first
            t.logits.insert(t.logits.end(), {1.0f, 0.5f});
        }
        teacher.push_back(std::move(t));
    }
    DatasetOptions o;
    o.max_seq_len = 30;
    o.stride = 7;
    o.val_split = o.test_split = 0.2;
    const TokenDataset data = build_token_dataset(docs, *tokenizer, o, &teacher);
    ASSERT_TRUE(data.train.has_teacher());
    const std::vector<std::int64_t> all = [&] {
        std::vector<std::int64_t> v(static_cast<std::size_t>(data.train.size()));
        std::iota(v.begin(), v.end(), 0);
        return v;
    }();
    Tensor tokens, targets, ids, logits;
    data.train.batch(all, tokens, targets);
    data.train.teacher_batch(all, ids, logits);
    EXPECT_EQ(ids.shape(), (Shape{data.train.size(), 30, 2}));
    std::int64_t without = 0;
    for (std::int64_t r = 0; r < targets.numel(); ++r) {
        const std::int64_t id = ids.data<std::int64_t>()[2 * r];
        // No targets exactly on the separators' two newlines and on each document's last token.
        const bool separator =
            targets.data<std::int64_t>()[r] == '\n' || tokens.data<std::int64_t>()[r] == '\n';
        EXPECT_EQ(id < 0, separator) << r;
        if (id >= 0) {
            EXPECT_EQ(id, targets.data<std::int64_t>()[r]) << r;
        }
        without += id < 0;
    }
    EXPECT_GT(without, 0);
    teacher[3].k = 3;  // another top-k
    EXPECT_THROW(build_token_dataset(docs, *tokenizer, o, &teacher), Error);
}

}  // namespace
}  // namespace structseq
