// AutoencoderKLConfig: a diffusers VAE's `vae/config.json` (the AutoencoderKL of SD 1.x, SD 2.x
// and SDXL), read torch-free.
//
// Every field that changes the computation is read; a field left out takes diffusers' default
// (the values below), as diffusers itself does. Fields this engine reads:
//   in_channels, out_channels, latent_channels   integers >= 1
//   block_out_channels                           non-empty list of integers >= 1, one per level
//   layers_per_block                             integer >= 1 (the decoder has one more per level)
//   down_block_types                             ["DownEncoderBlock2D", ...], one per level
//   up_block_types                               ["UpDecoderBlock2D", ...], one per level
//   norm_num_groups                              integer dividing every block_out_channels entry
//   act_fn                                       "silu" (or its other name "swish")
//   sample_size                                  integer (the training size; informative here)
//   scaling_factor                               number > 0
//   shift_factor, latents_mean, latents_std      null only (SD3/Flux/Playground latents differ)
//   force_upcast                                 bool: run this VAE in fp32 even when the rest of
//                                                the pipeline is fp16 (the caller's job)
//   mid_block_add_attention                      bool, default true (newer diffusers)
//   use_quant_conv, use_post_quant_conv          bool, default true (newer diffusers)
// Keys starting with '_' are metadata (`_class_name`, `_diffusers_version`, `_name_or_path`,
// `_use_default_values`) and are skipped, except that a `_class_name` other than
// "AutoencoderKL" is refused. Any other key is an error naming it, so an architecture this
// engine does not implement is never run as if it were this one.
//
// Errors are kInvalidArgument whose message names the file and the first offending field, with a
// FieldError per offending field.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace stipple {

struct AutoencoderKLConfig {
  int in_channels = 3;
  int out_channels = 3;
  int latent_channels = 4;
  std::vector<int> block_out_channels = {64};
  int layers_per_block = 1;
  int norm_num_groups = 32;
  int sample_size = 32;
  // Diffusion models see latents * scaling_factor; the caller divides by it before Decode.
  double scaling_factor = 0.18215;
  bool force_upcast = true;
  bool mid_block_add_attention = true;
  bool use_quant_conv = true;
  bool use_post_quant_conv = true;

  // Image size / latent size: 2^(levels - 1) (8 for every Stable Diffusion VAE).
  int DownscaleFactor() const { return 1 << (block_out_channels.size() - 1); }
};

// Parses config.json text. `file_name` names the file in error messages.
Result<AutoencoderKLConfig> ParseAutoencoderKLConfig(std::string_view json,
                                                     std::string_view file_name);

// Reads and parses `path`; kNotFound when it does not exist.
Result<AutoencoderKLConfig> LoadAutoencoderKLConfig(const std::string& path);

}  // namespace stipple
