#include "structseq/data/tokenizer.h"

#include "test_util.h"

#include <gtest/gtest.h>

namespace structseq {
namespace {

TEST(ByteTokenizer, RoundTripsEveryByte) {
    const auto tokenizer = make_byte_tokenizer();
    std::string all;
    for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
    const std::vector<std::int64_t> ids = tokenizer->encode(all + "héllo ✓");
    ASSERT_EQ(ids.size(), 256u + 10u);
    for (int b = 0; b < 256; ++b) EXPECT_EQ(ids[static_cast<std::size_t>(b)], b);
    EXPECT_EQ(tokenizer->decode(ids), all + "héllo ✓");
    EXPECT_EQ(tokenizer->vocab_size(), 256);
}

TEST(ByteTokenizer, RefusesIdsOutsideTheVocabulary) {
    const auto tokenizer = make_byte_tokenizer();
    const std::vector<std::int64_t> ids = {65, 256};
    EXPECT_THROW(
        {
            try {
                tokenizer->decode(ids);
            } catch (const Error& e) {
                EXPECT_NE(std::string(e.what()).find("256"), std::string::npos) << e.what();
                throw;
            }
        },
        Error);
}

TEST(ByteTokenizer, SavesAndLoads) {
    testing::TempDir dir;
    make_byte_tokenizer()->save(dir.path().string());
    EXPECT_EQ(load_tokenizer(dir.path().string())->type(), "byte");
    testing::write_bytes(dir.file("tokenizer.json"), "{\"type\": \"wordpiece\"}");
    EXPECT_THROW(load_tokenizer(dir.path().string()), Error);
    testing::write_bytes(dir.file("tokenizer.json"), "{not json");
    EXPECT_THROW(load_tokenizer(dir.path().string()), Error);
}

}  // namespace
}  // namespace structseq
