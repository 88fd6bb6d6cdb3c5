#include "structseq/data/text_corpus.h"

#include "test_util.h"

#include <gtest/gtest.h>

namespace structseq {
namespace {

TEST(TextCorpus, ParagraphsSplitOnBlankLines) {
    const std::vector<std::string> p = paragraphs("a\nb\n\n  \nc\r\n\nd\n");
    ASSERT_EQ(p.size(), 3u);
    EXPECT_EQ(p[0], "a\nb");
    EXPECT_EQ(p[1], "c");
    EXPECT_EQ(p[2], "d");
    EXPECT_TRUE(paragraphs("\n\n  \n").empty());
}

TEST(TextCorpus, BundledCorpusIsTheKingJamesBibleByChapter) {
    const std::string text = bundled_corpus_text();
    EXPECT_EQ(text.size(), 4139038u);
    EXPECT_TRUE(text.starts_with("In the beginning God created the heaven and the earth.\n"));
    const std::vector<std::string> chapters = read_documents(kBundledCorpus);
    EXPECT_EQ(chapters.size(), 1189u);
    EXPECT_TRUE(
        chapters.back().ends_with("The grace of our Lord Jesus Christ be with you all. Amen."));
}

TEST(TextCorpus, ReadsJsonLinesJsonArraysAndDirectories) {
    testing::TempDir dir;
    testing::write_bytes(dir.file("a.jsonl"),
                         "{\"text\": \"one\"}\n\n{\"text\": \"two\", \"x\": 1}\n");
    testing::write_bytes(dir.file("b.json"), "[{\"body\": \"three\"}, \"four\"]");
    testing::write_bytes(dir.file("c.txt"), "five\n\nsix\n");
    EXPECT_EQ(read_documents(dir.file("a.jsonl")), (std::vector<std::string>{"one", "two"}));
    EXPECT_EQ(read_documents(dir.file("b.json"), "body"),
              (std::vector<std::string>{"three", "four"}));
    EXPECT_THROW(read_documents(dir.file("b.json")), Error);  // no "text" field
    std::filesystem::remove(dir.file("b.json"));
    EXPECT_EQ(read_documents(dir.path().string()),
              (std::vector<std::string>{"one", "two", "five", "six"}));
}

TEST(TextCorpus, ErrorsNameThePathAndLine) {
    testing::TempDir dir;
    testing::write_bytes(dir.file("bad.jsonl"), "{\"text\": \"ok\"}\n{broken\n");
    try {
        read_documents(dir.file("bad.jsonl"));
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
    }
    EXPECT_THROW(read_documents(dir.file("absent.txt")), Error);
    EXPECT_THROW(read_documents("bundled:nothing"), Error);
}

}  // namespace
}  // namespace structseq
