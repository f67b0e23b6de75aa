#include "engine/tokenizer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace stipple {
namespace {

// ids: <pad>=0 <bos>=1 <eos>=2 <unk>=3 a=4 red=5 circle=6 left=7
std::unique_ptr<WordTokenizer> Make(int max_length = 8) {
  return WordTokenizer::FromTokens(
             {"<pad>", "<bos>", "<eos>", "<unk>", "a", "red", "circle", "left"}, max_length)
      .value();
}

TEST(WordTokenizer, EncodesWordsBetweenBosAndEosThenPads) {
  EXPECT_EQ(Make()->Encode("a red circle"), (std::vector<int32_t>{1, 4, 5, 6, 2, 0, 0, 0}));
}

TEST(WordTokenizer, LowerCasesAndSplitsOnNonAlphanumerics) {
  EXPECT_EQ(WordTokenizer::SplitWords("A RED,circle--on the\tLeft!"),
            (std::vector<std::string>{"a", "red", "circle", "on", "the", "left"}));
  EXPECT_EQ(Make()->Encode("RED-Circle"), Make()->Encode("red circle"));
}

TEST(WordTokenizer, UnknownWordsBecomeUnk) {
  EXPECT_EQ(Make()->Encode("a purple circle"), (std::vector<int32_t>{1, 4, 3, 6, 2, 0, 0, 0}));
}

TEST(WordTokenizer, LongTextIsCutToKeepEos) {
  EXPECT_EQ(Make(4)->Encode("a red circle left"), (std::vector<int32_t>{1, 4, 5, 2}));
}

TEST(WordTokenizer, EmptyTextIsBosEosAndPadding) {
  EXPECT_EQ(Make(4)->Encode("  ,, "), (std::vector<int32_t>{1, 2, 0, 0}));
}

TEST(WordTokenizer, MissingSpecialTokenIsAnError) {
  Result<std::unique_ptr<WordTokenizer>> t = WordTokenizer::FromTokens({"<pad>", "<bos>", "a"}, 8);
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(t.status().message().find("<eos>"), std::string::npos);
}

TEST(WordTokenizer, DuplicateTokenIsAnError) {
  EXPECT_EQ(
      WordTokenizer::FromTokens({"<pad>", "<bos>", "<eos>", "<unk>", "a", "a"}, 8).status().code(),
      StatusCode::kInvalidArgument);
}

TEST(WordTokenizer, LoadsAVocabularyFileOneTokenPerLine) {
  const std::string path = (std::filesystem::temp_directory_path() / "stipple_vocab_test.txt");
  {
    std::ofstream out(path);
    out << "<pad>\n<bos>\n<eos>\n<unk>\nblue\r\nsquare\n";
  }
  Result<std::unique_ptr<WordTokenizer>> t = WordTokenizer::LoadVocabularyFile(path, 5);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ((*t)->vocab_size(), 6);
  EXPECT_EQ((*t)->Encode("Blue square"), (std::vector<int32_t>{1, 4, 5, 2, 0}));
  std::remove(path.c_str());
}

TEST(WordTokenizer, MissingVocabularyFileIsNotFound) {
  EXPECT_EQ(WordTokenizer::LoadVocabularyFile("/nonexistent/vocab.txt", 8).status().code(),
            StatusCode::kNotFound);
}

}  // namespace
}  // namespace stipple
