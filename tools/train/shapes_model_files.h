// The shipped model's diffusers folder, minus the weights: the configs and the tokenizer that
// `stipple train` writes into a new model directory (tools/train/README.md).
//
// The folder is a pixel-space Stable Diffusion pipeline (no VAE; docs/engine.md):
//   model_index.json                 StableDiffusionPipeline, vae / safety_checker /
//                                    feature_extractor null, stipple's defaults under
//                                    "_stipple_defaults" (a metadata key diffusers ignores)
//   text_encoder/config.json         CLIPTextModel, hidden 64, 2 layers, 4 heads, quick_gelu
//   tokenizer/vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json
//                                    a small CLIP BPE vocabulary (below), kShapesMaxTokens
//   unet/config.json                 UNet2DConditionModel on RGB pixels (3 channels, 32×32)
//   scheduler/scheduler_config.json  DDIMScheduler, linear β 1e-4..0.02, 1000 steps, clip_sample
// Torch-free.
#pragma once

#include <string>

#include "common/status.h"

namespace stipple::shapes {

// Tokens per prompt (with <|startoftext|> and <|endoftext|>): a caption is at most 14 tokens;
// the rest leaves room for the pieces of words the captions never use.
inline constexpr int kShapesMaxTokens = 32;

struct BpeFiles {
  std::string vocab_json;  // {token: id}
  std::string merges_txt;  // "#version: 0.2", then one merge per line by rank
  int vocab_size = 0;
};

// A byte-level CLIP BPE vocabulary in which every word of CaptionVocabulary() is one token: the
// 256 byte symbols and the same with "</w>" (ids 0..511, CLIP's order), the merges learnt on
// those words (the most frequent adjacent pair first, ties by the pair's text, until every word
// is one symbol), then <|startoftext|> and <|endoftext|> (the last two ids, as in CLIP, so the
// pooled state at argmax(ids) is the end token's). Deterministic.
BpeFiles ShapesBpe();

// Writes every config and tokenizer file above that is missing from `model_dir` (created if
// needed); existing files are kept. kUnavailable naming a file that cannot be written.
Status InitializeShapesModelDir(const std::string& model_dir);

}  // namespace stipple::shapes
