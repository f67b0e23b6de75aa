// The CLIP BPE vocabulary (vocab.json + merges.txt, 49,408 tokens) that every Stable Diffusion
// text encoder was trained with, built into the binary: single-file checkpoints carry no
// tokenizer files, and this is the one their text encoders need (src/engine/clip_vocab/).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "engine/clip_tokenizer.h"

namespace stipple {

std::string_view ClipVocabJson();
std::string_view ClipMergesTxt();

// A ClipTokenizer over the built-in vocabulary (77 tokens, <|startoftext|>/<|endoftext|>) that
// pads with `pad_token`: "<|endoftext|>" for SD 1.x, "!" for SD 2.x and SDXL's second encoder.
Result<std::unique_ptr<Tokenizer>> BuiltInClipTokenizer(const std::string& pad_token);

}  // namespace stipple
