#include "structseq/io/config.h"

#include "test_util.h"

#include <cmath>

namespace structseq::io {
namespace {

// A schema in the shape of the seed's training configuration.
ConfigField test_schema() {
    using F = ConfigField;
    return F::section({
        {"model", F::section({
                      {"vocab_size", F::integer(50000).at_least(1)},
                      {"hidden_dim", F::integer(768).at_least(1)},
                      {"dropout", F::number(0.1).at_least(0).at_most(1)},
                      {"activation", F::choice("gelu", {"gelu", "silu", "relu"})},
                      {"mixer", F::strings({"ssm"})},
                      {"use_parallel_scan", F::boolean(true)},
                  })},
        {"training", F::section({
                         {"learning_rate", F::number(5e-4).greater_than(0)},
                         {"max_steps", F::integer(100).at_least(1)},
                     })},
        {"teacher", F::string("").no_default()},
    });
}

Config parse(const std::string& text) {
    return parse_config(text, test_schema(), "config.yaml");
}

TEST(Config, FillsDefaultsAndReadsValues) {
    const Config c =
        parse("model:\n  hidden_dim: 64\n  mixer: [ssm, bk]\ntraining:\n  learning_rate: 1.0e-3\n");
    EXPECT_EQ(c.integer("model.hidden_dim"), 64);
    EXPECT_EQ(c.integer("model.vocab_size"), 50000);
    EXPECT_EQ(c.number("training.learning_rate"), 1e-3);
    EXPECT_EQ(c.number("model.vocab_size"), 50000.0);  // integers read as numbers too
    EXPECT_EQ(c.string("model.activation"), "gelu");
    EXPECT_EQ(c.strings("model.mixer"), (std::vector<std::string>{"ssm", "bk"}));
    EXPECT_TRUE(c.boolean("model.use_parallel_scan"));
    EXPECT_FALSE(c.has("teacher"));
    EXPECT_ERROR_CONTAINS(c.string("teacher"), "'teacher' is not set");
    EXPECT_ERROR_CONTAINS(c.number("model.nothing"), "no number setting 'model.nothing'");
}

TEST(Config, EmptyFileMeansAllDefaults) {
    const Config c = parse("");
    EXPECT_EQ(c.integer("training.max_steps"), 100);
    EXPECT_EQ(c.strings("model.mixer"), (std::vector<std::string>{"ssm"}));
}

TEST(Config, ScalarIsAListOfOne) {
    EXPECT_EQ(parse("model: {mixer: bk}").strings("model.mixer"), (std::vector<std::string>{"bk"}));
}

TEST(Config, UnknownKeyNamesTheKeyAndTheClosestValidOne) {
    EXPECT_ERROR_CONTAINS(
        parse("training:\n  learnig_rate: 0.1\n"),
        "config.yaml: unknown key 'training.learnig_rate'; did you mean 'training.learning_rate'?");
    EXPECT_ERROR_CONTAINS(parse("trainig: {}\n"),
                          "unknown key 'trainig'; did you mean 'training'?");
}

TEST(Config, WrongTypesNameThePath) {
    EXPECT_ERROR_CONTAINS(parse("training:\n  learning_rate: abc\n"),
                          "training.learning_rate: expected a number, got abc");
    EXPECT_ERROR_CONTAINS(parse("training:\n  learning_rate: \"abc\"\n"),
                          "training.learning_rate: expected a number, got \"abc\"");
    EXPECT_ERROR_CONTAINS(parse("training:\n  learning_rate: \"0.1\"\n"),
                          "expected a number, got \"0.1\"");
    EXPECT_ERROR_CONTAINS(parse("training:\n  max_steps: 1.5\n"),
                          "training.max_steps: expected an integer, got 1.5");
    EXPECT_ERROR_CONTAINS(parse("model:\n  use_parallel_scan: maybe\n"),
                          "model.use_parallel_scan: expected true or false, got maybe");
    EXPECT_ERROR_CONTAINS(parse("model:\n  mixer: {a: 1}\n"),
                          "model.mixer: expected a string or a list of strings, got a mapping");
    EXPECT_ERROR_CONTAINS(parse("model: 3\n"), "model: expected a mapping, got 3");
    EXPECT_ERROR_CONTAINS(parse("- a\n- b\n"), "expected a mapping at the top level, got a list");
    EXPECT_ERROR_CONTAINS(parse("training:\n  learning_rate: [1]\n"),
                          "expected a number, got a list");
    EXPECT_ERROR_CONTAINS(parse("training:\n  learning_rate:\n"),
                          "training.learning_rate: expected a value, got null");
}

TEST(Config, NaNAndInfinityAreRefused) {
    for (const char* value : {".nan", ".NaN", "nan", ".inf", "-.inf", "inf"}) {
        EXPECT_ERROR_CONTAINS(parse(fmt::format("training:\n  learning_rate: {}\n", value)),
                              "training.learning_rate: expected a finite number");
    }
}

TEST(Config, BoundsAndChoices) {
    EXPECT_ERROR_CONTAINS(parse("training: {learning_rate: 0}"),
                          "training.learning_rate: expected a number > 0, got 0");
    EXPECT_ERROR_CONTAINS(parse("model: {dropout: 1.5}"),
                          "model.dropout: expected a number >= 0 and <= 1, got 1.5");
    EXPECT_ERROR_CONTAINS(parse("model: {vocab_size: 0}"),
                          "model.vocab_size: expected an integer >= 1, got 0");
    EXPECT_ERROR_CONTAINS(parse("model: {activation: tanh}"),
                          "model.activation: expected one of gelu, silu, relu, got \"tanh\"");
}

TEST(Config, SyntaxErrorsGiveLineAndColumn) {
    EXPECT_ERROR_CONTAINS(parse("model:\n  hidden_dim: [1, 2\n"), "config.yaml:");
    EXPECT_ERROR_CONTAINS(parse("model:\n  hidden_dim: [1, 2\n"), "YAML syntax error");
}

TEST(Config, ToYamlReadsBackToTheSameValues) {
    const Config c = parse(
        "model: {hidden_dim: 96, dropout: 0.30000000000000004, mixer: [ssm, bk]}\ntraining: "
        "{learning_rate: 3.0e-4}\n");
    const Config back = parse(c.to_yaml());
    EXPECT_EQ(back.values(), c.values()) << c.to_yaml();
}

TEST(Config, ToYamlQuotesStringsThatLookLikeOtherTypes) {
    for (const char* text : {"null", "true", "~", "12", " padded ", "a: b", "#x", "'q'"}) {
        const std::string yaml =
            fmt::format("model: {{mixer: [{}]}}\nteacher: {}\n", fmt::format("\"{}\"", text),
                        fmt::format("\"{}\"", text));
        const Config c = parse(yaml);
        EXPECT_EQ(parse(c.to_yaml()).values(), c.values()) << c.to_yaml();
    }
}

TEST(Config, ControlCharactersAndInvalidUtf8AreRefused) {
    EXPECT_ERROR_CONTAINS(parse("model: {mixer: a\x0b}\n"),
                          "config.yaml:1:17: control character U+000B");
    EXPECT_ERROR_CONTAINS(parse("model:\n  mixer: \xf3\xf3\n"),
                          "config.yaml:2:10: the text is not valid UTF-8");
    EXPECT_EQ(parse("model: {mixer: \"caf\xc3\xa9\"}\n").strings("model.mixer")[0], "caf\xc3\xa9");
}

TEST(Config, MissingFileIsAClearError) {
    EXPECT_ERROR_CONTAINS(load_config("/nonexistent/config.yaml", test_schema()),
                          "the configuration file is missing or unreadable");
}

TEST(ClosestName, PicksSmallestEditDistance) {
    EXPECT_EQ(closest_name("learnig_rate", {"max_steps", "learning_rate"}), "learning_rate");
    EXPECT_EQ(closest_name("x", {}), "");
}

}  // namespace
}  // namespace structseq::io
