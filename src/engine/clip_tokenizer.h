// ClipTokenizer: the byte-level BPE tokenizer of CLIP (and so of every Stable Diffusion text
// encoder), read from a Hugging Face `tokenizer/` folder: vocab.json ({token: id}) and
// merges.txt (one merge "a b" per line, by rank, after an optional "#version" line).
//
// Encoding follows openai-clip's SimpleTokenizer (with ftfy as the identity):
//   1. clean: HTML character references unescaped twice (html_unescape.h), surrounding
//      whitespace stripped, every run of Unicode White_Space collapsed to one space, the text
//      lower-cased with Unicode's full (root locale) mapping ("İ" → "i̇", final sigma);
//   2. split with CLIP's pattern, leftmost alternative first: "<|startoftext|>", "<|endoftext|>",
//      the contractions 's 't 're 've 'm 'll 'd, a run of letters (\p{L}), one digit (\p{N}),
//      a run of other characters that are not White_Space; White_Space is skipped. The pattern
//      matches case-insensitively (Python's `regex` module), so U+017F "ſ" stands for "s" in it,
//      and U+0345, which folds to a letter, matches no alternative and is skipped too;
//   3. each piece's UTF-8 bytes mapped through GPT-2's bytes-to-unicode table, "</w>" appended
//      to the last symbol, then the lowest-ranked adjacent pair merged, repeatedly. The two
//      special tokens written exactly as above become their own ids.
// Unicode data (categories, White_Space, lower-casing) come from ICU. Invalid UTF-8 bytes read
// as U+FFFD. A symbol missing from the vocabulary (a vocabulary that does not match its merges)
// becomes the unk token.
//
// Encode() gives exactly max_length() ids (model_max_length, 77 for CLIP): <|startoftext|>, the
// first max_length - 2 tokens, <|endoftext|>, then the pad token — "<|endoftext|>" unless the
// folder names another (SD 2.x and SDXL's tokenizer_2 pad with "!"). Immutable after loading;
// safe to use from any thread (the word cache is locked).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "common/thread_annotations.h"
#include "engine/tokenizer.h"

namespace stipple {

struct ClipTokenizerOptions {
  int max_length = 77;
  std::string bos_token = "<|startoftext|>";
  std::string eos_token = "<|endoftext|>";
  std::string pad_token = "<|endoftext|>";
  std::string unk_token = "<|endoftext|>";
};

class ClipTokenizer final : public Tokenizer {
 public:
  // Reads DIR/vocab.json and DIR/merges.txt, and the options from DIR/tokenizer_config.json
  // (model_max_length, bos/eos/pad/unk_token) and DIR/special_tokens_map.json (the tokens; it
  // wins over tokenizer_config.json, as in transformers) when they exist. A token may be a string
  // or an object with "content". Errors: kNotFound naming a missing vocab.json / merges.txt;
  // kInvalidArgument naming the file (and line or field) that is malformed, or a special token
  // the vocabulary lacks.
  static Result<std::unique_ptr<ClipTokenizer>> LoadDirectory(const std::string& dir);
  // The same from the files' text; the names are used in messages.
  static Result<std::unique_ptr<ClipTokenizer>> FromText(
      std::string_view vocab_json, std::string_view merges_txt, const ClipTokenizerOptions& options,
      std::string_view vocab_name = "vocab.json", std::string_view merges_name = "merges.txt");

  std::vector<int32_t> Encode(std::string_view text) const override;
  int max_length() const override { return options_.max_length; }
  // One more than the largest id in vocab.json (the text encoder's embedding rows).
  int vocab_size() const override { return vocab_size_; }

  // The text's BPE ids without <|startoftext|> / <|endoftext|>, not cut to max_length.
  std::vector<int32_t> Tokenize(std::string_view text) const;
  // Step 1 above, in UTF-8.
  static std::string CleanText(std::string_view text);
  // Steps 1 and 2: the pieces BPE runs on, in UTF-8 (before the byte mapping).
  static std::vector<std::string> SplitWords(std::string_view text);

  // The id of a vocabulary entry (in its byte-mapped form, e.g. "cat</w>"), or -1.
  int32_t TokenId(std::string_view token) const;
  int32_t bos_id() const { return bos_; }
  int32_t eos_id() const { return eos_; }
  int32_t pad_id() const { return pad_; }
  int32_t unk_id() const { return unk_; }
  int num_merges() const { return static_cast<int>(ranks_.size()); }

 private:
  ClipTokenizer() = default;
  // Appends the ids of one piece (UTF-8) to *ids.
  void EncodePiece(const std::string& piece, std::vector<int32_t>* ids) const;
  std::vector<int32_t> Bpe(const std::string& piece) const;

  ClipTokenizerOptions options_;
  std::unordered_map<std::string, int32_t> vocab_;
  std::unordered_map<std::string, int32_t> ranks_;  // "first second" → rank
  int vocab_size_ = 0;
  int32_t bos_ = 0, eos_ = 0, pad_ = 0, unk_ = 0;
  mutable Mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_
      GUARDED_BY(cache_mutex_);  // piece → ids
};

}  // namespace stipple
