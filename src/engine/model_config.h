// ModelConfig: a model directory's model.json — what the network looks like, how its text is
// tokenized, its noise schedule and the defaults and limits it offers to requests.
//
// The format (every key required unless marked; unknown keys are errors, so a typo is caught):
//   {
//     "name": "shapes-32",
//     "width": 32, "height": 32,            // native size
//     "channels": 3,                        // image channels (pixel-space diffusion, RGB)
//     "sizes": [[32, 32]],                  // optional: every allowed size; default: native only
//     "weights": "model.safetensors",       // optional, this default; relative to the dir
//     "unet": {"base_channels": 32, "channel_mult": [1, 2], "res_blocks": 1,
//              "attention_levels": [1], "heads": 4, "norm_groups": 8, "time_embed_dim": 128,
//              "pooled_text": false},              // optional, this default
//     "text_encoder": {"tokenizer": "word", "vocab": "vocab.txt", "vocab_size": 64, "dim": 64,
//                      "layers": 2, "heads": 4, "max_tokens": 16},
//     "scheduler": {"train_timesteps": 1000, "beta_schedule": "linear" | "scaled_linear",
//                   "beta_start": 0.0001, "beta_end": 0.02, "default_steps": 20,
//                   "default_guidance_scale": 4.0, "default": "ddim", "max_steps": 150,
//                   "clip_sample": false}     // optional, this default
//   }
// attention_levels are indices into channel_mult; the middle block always has attention.
// Errors are kInvalidArgument with a FieldError per bad key ("unet.heads"), and the first named
// in the message.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "core/generation_request.h"

namespace stipple {

struct UNetConfig {
  int base_channels = 32;
  std::vector<int> channel_mult = {1, 2};
  int res_blocks = 1;                       // ResNet blocks per level on the way down
  std::vector<int> attention_levels = {1};  // levels with transformer blocks
  int heads = 4;
  int norm_groups = 8;
  int time_embed_dim = 128;
  // Also condition every ResNet block on the text: the text encoder's first (<bos>) state,
  // projected and added to the timestep embedding — as SDXL adds its pooled text embedding.
  bool pooled_text = false;
};

struct TextEncoderConfig {
  std::string tokenizer = "word";
  std::string vocab = "vocab.txt";  // relative to the model directory
  int vocab_size = 64;
  int dim = 64;
  int layers = 2;
  int heads = 4;
  int max_tokens = 16;
};

struct NoiseScheduleConfig {
  int train_timesteps = 1000;
  std::string beta_schedule = "linear";  // "linear" | "scaled_linear"
  double beta_start = 0.0001;
  double beta_end = 0.02;
};

struct ModelConfig {
  std::string name;
  int width = 32;
  int height = 32;
  int channels = 3;
  std::vector<std::pair<int, int>> sizes;
  std::string weights = "model.safetensors";
  UNetConfig unet;
  TextEncoderConfig text_encoder;
  NoiseScheduleConfig noise;
  int default_steps = 20;
  double default_guidance_scale = 4.0;
  std::string default_scheduler = "ddim";
  int max_steps = 150;
  // Clamp the estimate of the clean image to [-1, 1] at every step before the scheduler steps
  // from it (diffusers' clip_sample, the usual setting of pixel-space models): an estimate that
  // overshoots early in sampling then cannot blow the image out. Schedulers that step from the
  // noise estimate alone (euler_a) are unaffected.
  bool clip_sample = false;

  // The limits a ModelCatalog entry for this model holds.
  ModelLimits Limits() const;
};

Result<ModelConfig> ParseModelConfig(std::string_view text);
// Reads and parses `path`; kNotFound when it does not exist.
Result<ModelConfig> LoadModelConfig(const std::string& path);
// model.json text for `config` (ParseModelConfig reads it back equal).
std::string ModelConfigToJson(const ModelConfig& config);

}  // namespace stipple
