// Fuzz target: a tokenizer folder's files (src/engine/clip_tokenizer.h): vocab.json and
// merges.txt, read by ClipTokenizer::FromText. The input is vocab.json, a line "--8<--", then
// merges.txt. Properties: a tokenizer or a Status naming the file, never a crash; a tokenizer
// that loads encodes a few prompts to exactly max_length ids inside its vocabulary.
#include "engine/clip_tokenizer.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string_view> files =
      stipple::fuzz::SplitAt(stipple::fuzz::AsText(data, size), "\n--8<--\n");
  if (files.size() != 2) return 0;
  auto tokenizer = stipple::ClipTokenizer::FromText(files[0], files[1], {});
  if (!tokenizer.ok()) {
    FUZZ_CHECK(tokenizer.status().code() == stipple::StatusCode::kInvalidArgument,
               tokenizer.status().ToString());
    return 0;
  }
  for (std::string_view prompt : {"a red circle", "<|startoftext|>x<|endoftext|>", "", "ab ab"}) {
    std::vector<int32_t> ids = tokenizer.value()->Encode(prompt);
    FUZZ_CHECK(ids.size() == static_cast<size_t>(tokenizer.value()->max_length()), prompt);
    for (int32_t id : ids) {
      FUZZ_CHECK(id >= 0 && id < tokenizer.value()->vocab_size(), std::to_string(id));
    }
  }
  return 0;
}
