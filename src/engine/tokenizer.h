// Tokenizer: text → a fixed-length sequence of token ids for the text encoder.
//
// The interface admits other tokenizers (a BPE one for larger checkpoints); WordTokenizer is the
// word-level one the project's small models use. Tokenizers are immutable after loading and
// safe to use from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"

namespace stipple {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Exactly max_length() ids: <bos>, the text's tokens (cut to fit), <eos>, then <pad>s. Never
  // fails: text the vocabulary does not know becomes <unk>.
  virtual std::vector<int32_t> Encode(std::string_view text) const = 0;
  virtual int max_length() const = 0;
  virtual int vocab_size() const = 0;
};

// Lower-cases ASCII letters and splits on every byte that is not an ASCII letter or digit; each
// word is looked up in the vocabulary (one token per line, id = line number, counted from 0),
// which must hold <pad>, <bos>, <eos> and <unk>.
class WordTokenizer final : public Tokenizer {
 public:
  // kNotFound: no such file; kInvalidArgument: a special token missing, a duplicate or empty
  // token, or max_length < 2.
  static Result<std::unique_ptr<WordTokenizer>> LoadVocabularyFile(const std::string& path,
                                                                   int max_length);
  static Result<std::unique_ptr<WordTokenizer>> FromTokens(std::vector<std::string> tokens,
                                                           int max_length);

  std::vector<int32_t> Encode(std::string_view text) const override;
  int max_length() const override { return max_length_; }
  int vocab_size() const override { return static_cast<int>(tokens_.size()); }

  // The words of `text` as Encode sees them (for tests and diagnostics).
  static std::vector<std::string> SplitWords(std::string_view text);

  int32_t pad_id() const { return pad_; }
  int32_t bos_id() const { return bos_; }
  int32_t eos_id() const { return eos_; }
  int32_t unk_id() const { return unk_; }

 private:
  WordTokenizer() = default;
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int32_t> ids_;
  int max_length_ = 0;
  int32_t pad_ = 0, bos_ = 0, eos_ = 0, unk_ = 0;
};

}  // namespace stipple
