#include "engine/clip_vocabulary.h"

#include <utility>

// The files' bytes, placed in .rodata by the assembler (STIPPLE_CLIP_VOCAB_DIR is set by CMake).
asm(".section .rodata\n"
    ".balign 16\n"
    "stipple_clip_vocab_json_begin:\n"
    ".incbin \"" STIPPLE_CLIP_VOCAB_DIR
    "/vocab.json\"\n"
    "stipple_clip_vocab_json_end:\n"
    ".balign 16\n"
    "stipple_clip_merges_begin:\n"
    ".incbin \"" STIPPLE_CLIP_VOCAB_DIR
    "/merges.txt\"\n"
    "stipple_clip_merges_end:\n"
    ".previous\n");

extern "C" const char stipple_clip_vocab_json_begin[], stipple_clip_vocab_json_end[];
extern "C" const char stipple_clip_merges_begin[], stipple_clip_merges_end[];

namespace stipple {

std::string_view ClipVocabJson() {
  return {stipple_clip_vocab_json_begin,
          static_cast<size_t>(stipple_clip_vocab_json_end - stipple_clip_vocab_json_begin)};
}

std::string_view ClipMergesTxt() {
  return {stipple_clip_merges_begin,
          static_cast<size_t>(stipple_clip_merges_end - stipple_clip_merges_begin)};
}

Result<std::unique_ptr<Tokenizer>> BuiltInClipTokenizer(const std::string& pad_token) {
  ClipTokenizerOptions options;
  options.pad_token = pad_token;
  ASSIGN_OR_RETURN(std::unique_ptr<ClipTokenizer> tokenizer,
                   ClipTokenizer::FromText(ClipVocabJson(), ClipMergesTxt(), options,
                                           "built-in vocab.json", "built-in merges.txt"));
  return std::unique_ptr<Tokenizer>(std::move(tokenizer));
}

}  // namespace stipple
