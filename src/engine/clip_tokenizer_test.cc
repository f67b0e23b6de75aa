#include "engine/clip_tokenizer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "engine/html_unescape.h"

namespace stipple {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

const std::string kTestData = STIPPLE_ENGINE_TESTDATA;
// The real CLIP vocabulary: the one stipple ships (clip_vocabulary.h).
const std::string kVocab = kTestData + "/../clip_vocab";

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

void WriteText(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

const json::object& Golden() {
  static const json::value* golden =
      new json::value(json::parse(ReadText(kTestData + "/clip-tokenizer-golden.json")));
  return golden->as_object();
}

const ClipTokenizer& RealTokenizer() {
  static const ClipTokenizer* t = [] {
    Result<std::unique_ptr<ClipTokenizer>> r = ClipTokenizer::LoadDirectory(kVocab);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return std::move(r).value().release();
  }();
  return *t;
}

// Compares Encode() with every golden case of `key` whose pad is `pad`: the stored ids through
// <|endoftext|>, then `pad_id` up to max_length.
void ExpectGoldenCases(const ClipTokenizer& t, const char* key, const std::string& pad,
                       int* compared) {
  const int max_length = static_cast<int>(Golden().at("max_length").as_int64());
  ASSERT_EQ(t.max_length(), max_length);
  int failures = 0;
  for (const json::value& c : Golden().at(key).as_array()) {
    const json::object& o = c.as_object();
    if (o.at("pad").as_string() != pad) continue;
    std::vector<int32_t> expected;
    for (const json::value& id : o.at("ids").as_array()) {
      expected.push_back(static_cast<int32_t>(id.as_int64()));
    }
    expected.resize(static_cast<size_t>(max_length), t.pad_id());
    const std::string text(o.at("text").as_string());
    ++*compared;
    if (t.Encode(text) != expected && ++failures <= 5) {
      ADD_FAILURE() << "prompt \"" << text << "\" (cleaned \"" << ClipTokenizer::CleanText(text)
                    << "\") encodes differently";
    }
  }
  EXPECT_EQ(failures, 0);
}

TEST(ClipTokenizer, LoadsTheRealVocabulary) {
  const ClipTokenizer& t = RealTokenizer();
  EXPECT_EQ(t.vocab_size(), 49408);
  EXPECT_EQ(t.num_merges(), 48894);
  EXPECT_EQ(t.max_length(), 77);
  EXPECT_EQ(t.bos_id(), 49406);
  EXPECT_EQ(t.eos_id(), 49407);
  EXPECT_EQ(t.pad_id(), 49407);
  EXPECT_EQ(t.Tokenize("a photo of a cat"), (std::vector<int32_t>{320, 1125, 539, 320, 2368}));
}

TEST(ClipTokenizer, MatchesSimpleTokenizerOnTheGoldenPrompts) {
  int compared = 0;
  ExpectGoldenCases(RealTokenizer(), "cases", "<|endoftext|>", &compared);
  EXPECT_GE(compared, 1000);
}

TEST(ClipTokenizer, MatchesTheGoldenPromptsPaddedWithExclamationMarks) {
  ClipTokenizerOptions options;
  options.pad_token = "!";
  Result<std::unique_ptr<ClipTokenizer>> t = ClipTokenizer::FromText(
      ReadText(kVocab + "/vocab.json"), ReadText(kVocab + "/merges.txt"), options);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ((*t)->pad_id(), 0);
  int compared = 0;
  ExpectGoldenCases(**t, "cases", "!", &compared);
  EXPECT_GE(compared, 100);
}

TEST(ClipTokenizer, TruncatedVocabularyTokenizesByTheSameRules) {
  Result<std::unique_ptr<ClipTokenizer>> t =
      ClipTokenizer::LoadDirectory(kTestData + "/clip-vocab-tiny");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ((*t)->vocab_size(), 1024);
  EXPECT_EQ((*t)->bos_id(), 1022);
  int compared = 0;
  ExpectGoldenCases(**t, "tiny_cases", "<|endoftext|>", &compared);
  EXPECT_GE(compared, 100);
}

TEST(ClipTokenizer, CleansAsClipDoes) {
  EXPECT_EQ(ClipTokenizer::CleanText("  A  Photo\t\nOF\u00a0a CAT  "), "a photo of a cat");
  EXPECT_EQ(ClipTokenizer::CleanText("&amp;lt;b&amp;gt; caf&eacute; &#x41;&#66"), "<b> café ab");
  EXPECT_EQ(ClipTokenizer::CleanText("İ ΟΔΟΣ"), "i\u0307 οδος");
  EXPECT_EQ(ClipTokenizer::CleanText("\x1c x \x1f"), "x");
  EXPECT_EQ(ClipTokenizer::CleanText(" \t "), "");
}

TEST(ClipTokenizer, SplitsWithClipsPattern) {
  EXPECT_EQ(ClipTokenizer::SplitWords("It's 2024!!! a,b <|endoftext|>x'll'd"),
            (std::vector<std::string>{"it", "'s", "2", "0", "2", "4", "!!!", "a", ",", "b",
                                      "<|endoftext|>", "x", "'ll", "'d"}));
  EXPECT_EQ(ClipTokenizer::SplitWords("'''s café😀😀 東京"),
            (std::vector<std::string>{"'''", "s", "café", "😀😀", "東京"}));
  EXPECT_EQ(ClipTokenizer::SplitWords("it'\u017f"), (std::vector<std::string>{"it", "'\u017f"}));
}

TEST(ClipTokenizer, CutsLongTextToKeepEndOfText) {
  const ClipTokenizer& t = RealTokenizer();
  std::string text;
  for (int i = 0; i < 200; ++i) text += "cat ";
  std::vector<int32_t> ids = t.Encode(text);
  ASSERT_EQ(ids.size(), 77u);
  EXPECT_EQ(ids.front(), t.bos_id());
  EXPECT_EQ(ids[75], t.TokenId("cat</w>"));
  EXPECT_EQ(ids[76], t.eos_id());
  EXPECT_EQ(t.Tokenize(text).size(), 200u);
}

TEST(ClipTokenizer, EncodesTheSameFromManyThreads) {
  const ClipTokenizer& t = RealTokenizer();
  const std::vector<int32_t> expected = t.Encode("a watercolor painting of a lighthouse");
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < 200; ++k) {
        t.Encode("word" + std::to_string(i * 1000 + k));
        if (t.Encode("a watercolor painting of a lighthouse") != expected) ++mismatches;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(ClipTokenizer, SitsBehindTheTokenizerInterface) {
  std::unique_ptr<Tokenizer> t =
      ClipTokenizer::LoadDirectory(kTestData + "/clip-vocab-tiny").value();
  EXPECT_EQ(t->Encode("cat").size(), static_cast<size_t>(t->max_length()));
}

// A copy of the tiny vocabulary's folder in a fresh temporary directory.
fs::path TinyCopy(const std::string& name) {
  fs::path dir = fs::temp_directory_path() /
                 ("stipple_clip_tokenizer_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* f : {"vocab.json", "merges.txt"}) {
    fs::copy_file(kTestData + "/clip-vocab-tiny/" + f, dir / f);
  }
  return dir;
}

TEST(ClipTokenizer, SpecialTokensMapWinsOverTokenizerConfig) {
  const fs::path dir = TinyCopy("options");
  WriteText(dir / "tokenizer_config.json",
            R"({"model_max_length": 16, "pad_token": "<|endoftext|>",
                "bos_token": {"content": "<|startoftext|>", "lstrip": false}})");
  WriteText(dir / "special_tokens_map.json", R"({"pad_token": {"content": "!"}})");
  Result<std::unique_ptr<ClipTokenizer>> t = ClipTokenizer::LoadDirectory(dir);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ((*t)->max_length(), 16);
  EXPECT_EQ((*t)->pad_id(), 0);  // "!"
  std::vector<int32_t> ids = (*t)->Encode("hi");
  ASSERT_EQ(ids.size(), 16u);
  EXPECT_EQ(ids.back(), 0);
  fs::remove_all(dir);
}

TEST(ClipTokenizer, WithoutOptionFilesPadsWithEndOfTextTo77) {
  const fs::path dir = TinyCopy("defaults");
  Result<std::unique_ptr<ClipTokenizer>> t = ClipTokenizer::LoadDirectory(dir);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ((*t)->max_length(), 77);
  EXPECT_EQ((*t)->pad_id(), (*t)->eos_id());
  fs::remove_all(dir);
}

TEST(ClipTokenizer, ErrorsNameTheFile) {
  const fs::path dir = TinyCopy("errors");
  fs::remove(dir / "merges.txt");
  Result<std::unique_ptr<ClipTokenizer>> t = ClipTokenizer::LoadDirectory(dir);
  EXPECT_EQ(t.status().code(), StatusCode::kNotFound);
  EXPECT_NE(t.status().message().find("merges.txt"), std::string::npos);

  WriteText(dir / "merges.txt", "#version: 0.2\na b\nnot-a-merge\n");
  t = ClipTokenizer::LoadDirectory(dir);
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(t.status().message().find("merges.txt line 3"), std::string::npos)
      << t.status().ToString();

  WriteText(dir / "merges.txt", "a b\n");
  WriteText(dir / "vocab.json", "{\"a\": 0, \"b\": ");
  t = ClipTokenizer::LoadDirectory(dir);
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(t.status().message().find("vocab.json"), std::string::npos);

  WriteText(dir / "vocab.json", R"({"a": 0, "b": 1, "ab": 2})");
  t = ClipTokenizer::LoadDirectory(dir);
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(t.status().message().find("<|startoftext|>"), std::string::npos);

  WriteText(dir / "vocab.json", R"({"a": 0, "b": 0})");
  EXPECT_EQ(ClipTokenizer::LoadDirectory(dir).status().code(), StatusCode::kInvalidArgument);

  WriteText(dir / "tokenizer_config.json", R"({"model_max_length": 1e30})");
  t = ClipTokenizer::LoadDirectory(dir);
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(t.status().message().find("tokenizer_config.json"), std::string::npos);
  EXPECT_NE(t.status().message().find("model_max_length"), std::string::npos);

  fs::remove(dir / "vocab.json");
  fs::remove(dir / "tokenizer_config.json");
  t = ClipTokenizer::LoadDirectory(dir);
  EXPECT_EQ(t.status().code(), StatusCode::kNotFound);
  EXPECT_NE(t.status().message().find("vocab.json"), std::string::npos);
  fs::remove_all(dir);
}

TEST(HtmlUnescape, FollowsPythonsRules) {
  EXPECT_EQ(HtmlUnescape(U"&lt;&gt;&amp;&quot;&#39;"), U"<>&\"'");
  EXPECT_EQ(HtmlUnescape(U"&copy2024 &ampx &notit; &notin;"), U"©2024 &x ¬it; ∉");
  EXPECT_EQ(HtmlUnescape(U"&#x80;&#150;&#0;&#xD800;&#1114112;&#1;&#65"), U"€–\uFFFD\uFFFD\uFFFDA");
  EXPECT_EQ(HtmlUnescape(U"&hellip &nosuch; &; &#; &#x; & amp;"),
            U"&hellip &nosuch; &; &#; &#x; & amp;");
  EXPECT_EQ(HtmlUnescape(U"&amp;lt;"), U"&lt;");
}

}  // namespace
}  // namespace stipple
