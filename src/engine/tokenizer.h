// Tokenizer: text → a fixed-length sequence of token ids for the text encoder.
//
// ClipTokenizer (clip_tokenizer.h) implements it; the pipeline depends on this interface only.
// Tokenizers are immutable after loading and safe to use from any thread.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

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

}  // namespace stipple
