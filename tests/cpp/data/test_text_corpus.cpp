#include "structseq/data/text_corpus.h"

#include "test_util.h"

#include <gtest/gtest.h>
#include <zstd.h>

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

namespace structseq {
namespace {

// The Pile as distributed: JSON lines compressed with zstd.
TEST(TextCorpus, ReadsZstdCompressedJsonLines) {
    testing::TempDir dir;
    const std::string lines = "{\"text\": \"first\", \"meta\": {}}\n{\"text\": \"second\"}\n";
    std::string compressed(ZSTD_compressBound(lines.size()), '\0');
    compressed.resize(
        ZSTD_compress(compressed.data(), compressed.size(), lines.data(), lines.size(), 3));
    testing::write_bytes(dir.file("00.jsonl.zst"), compressed);
    EXPECT_EQ(read_dataset_documents("pile", dir.file("00.jsonl.zst")),
              (std::vector<std::string>{"first", "second"}));
    testing::write_bytes(dir.file("bad.jsonl.zst"), compressed.substr(0, compressed.size() / 2));
    EXPECT_THROW(read_documents(dir.file("bad.jsonl.zst")), Error);
}

// WikiText-103 as published: one document per article, sections kept inside it.
TEST(TextCorpus, WikitextArticlesStartAtTopLevelHeadings) {
    const std::string text =
        " \n = Valkyria Chronicles = \n \n Senjō no Valkyria is a game . \n \n"
        " = = Gameplay = = \n \n It has turns . \n \n = Tower Building = \n \n A tower . \n";
    const std::vector<std::string> articles = wikitext_articles(text);
    ASSERT_EQ(articles.size(), 2u);
    EXPECT_TRUE(articles[0].starts_with(" = Valkyria Chronicles ="));
    EXPECT_NE(articles[0].find(" = = Gameplay = ="), std::string::npos);
    EXPECT_NE(articles[0].find("It has turns"), std::string::npos);
    EXPECT_TRUE(articles[1].starts_with(" = Tower Building ="));
    testing::TempDir dir;
    testing::write_bytes(dir.file("wiki.train.raw"), text);
    testing::write_bytes(dir.file("wiki.valid.raw"), " = Other = \n \n Text . \n");
    EXPECT_EQ(read_dataset_documents("wikitext103", dir.path().string()).size(), 3u);
    testing::TempDir empty;
    EXPECT_THROW(read_dataset_documents("wikitext103", empty.path().string()), Error);
}

}  // namespace
}  // namespace structseq
