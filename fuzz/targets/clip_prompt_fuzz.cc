// Fuzz target: a prompt through the CLIP tokenizer over the built-in vocabulary
// (src/engine/clip_tokenizer.h, html_unescape.h): the text a client sends, cleaned, split and
// BPE-merged. Properties: never a crash on any bytes (invalid UTF-8 included); Encode gives
// exactly max_length ids, starting with <|startoftext|>, every id inside the vocabulary; clean
// text has its whitespace collapsed (no space at either end, never two in a row). Cleaning is not
// idempotent by design: it unescapes HTML twice, as CLIP does.
#include "engine/clip_tokenizer.h"
#include "engine/clip_vocabulary.h"
#include "fuzz_support.h"

namespace {

const stipple::Tokenizer& Tokenizer() {
  static const std::unique_ptr<stipple::Tokenizer> tokenizer = [] {
    auto made = stipple::BuiltInClipTokenizer("<|endoftext|>");
    FUZZ_CHECK(made.ok(), made.status().ToString());
    return std::move(made).value();
  }();
  return *tokenizer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = stipple::fuzz::AsText(data, size);
  const stipple::Tokenizer& tokenizer = Tokenizer();
  std::vector<int32_t> ids = tokenizer.Encode(text);
  FUZZ_CHECK(ids.size() == static_cast<size_t>(tokenizer.max_length()), "length");
  FUZZ_CHECK(ids.front() == 49406, "<|startoftext|> first");
  for (int32_t id : ids) FUZZ_CHECK(id >= 0 && id < tokenizer.vocab_size(), std::to_string(id));

  std::string clean = stipple::ClipTokenizer::CleanText(text);
  (void)stipple::ClipTokenizer::SplitWords(text);
  FUZZ_CHECK(clean.empty() || (clean.front() != ' ' && clean.back() != ' '), clean);
  FUZZ_CHECK(clean.find("  ") == std::string::npos, clean);
  return 0;
}
