// UNet2DConditionConfig: a diffusers UNet2DConditionModel's `unet/config.json` (diffusers 0.27.2),
// read for the Stable Diffusion family (SD 1.x, SD 2.x, SDXL and their fine-tunes and distillates).
// Torch-free: engine/torch/unet2d_condition.h builds the network from it.
//
// What is read (every field is optional and takes diffusers' default when absent or null, except
// where noted):
//   sample_size (int or [h, w]), in_channels, out_channels, center_input_sample,
//   flip_sin_to_cos, freq_shift, down_block_types ("CrossAttnDownBlock2D" | "DownBlock2D"),
//   mid_block_type ("UNetMidBlock2DCrossAttn" | null), up_block_types ("UpBlock2D" |
//   "CrossAttnUpBlock2D"), only_cross_attention (bool or per-block list), block_out_channels,
//   layers_per_block (int or per-block list), downsample_padding, mid_block_scale_factor,
//   act_fn ("silu" | "swish" | "mish" | "gelu" | "relu"), norm_num_groups, norm_eps,
//   cross_attention_dim (int or per-block list), transformer_layers_per_block (int, per-block
//   list, or per-block per-layer lists with reverse_transformer_layers_per_block for the up path),
//   attention_head_dim / num_attention_heads (see below), use_linear_projection,
//   upcast_attention, resnet_time_scale_shift ("default" | "scale_shift"), addition_embed_type
//   (null | "text" with addition_embed_type_num_heads | "text_time" with addition_time_embed_dim
//   and projection_class_embeddings_input_dim),
//   time_embedding_dim, time_embedding_act_fn, timestep_post_act, time_cond_proj_dim,
//   conv_in_kernel, conv_out_kernel; dropout (any value: inference does not drop).
// Accepted only at their default, no-op value (anything else is "not supported"):
//   time_embedding_type "positional", class_embed_type null, num_class_embeds null,
//   encoder_hid_dim null, encoder_hid_dim_type null, dual_cross_attention false,
//   attention_type "default".
// Accepted at any value because they do not change these block types' computation:
//   resnet_skip_time_act, resnet_out_scale_factor, cross_attention_norm,
//   mid_block_only_cross_attention, class_embeddings_concat.
// Keys starting with "_" (_class_name, _diffusers_version, ...) are metadata; _class_name, when
// present, must be "UNet2DConditionModel". Any other key is an error.
//
// Heads: diffusers named this class's head count `attention_head_dim` (the SD 1.x "8" means
// eight heads, not heads of eight channels); the number of heads of a block is
// num_attention_heads when set, else attention_head_dim. Each attention block's head width is
// its channel count over its head count, rounded down (its transformer then works in
// heads x width channels, projected from and back to the block's channels).
//
// Errors are kInvalidArgument, the message naming the file and each offending field, e.g.
// "unet/config.json: field 'time_embedding_type': 'fourier' is not supported", with one
// FieldError per field. The parser also checks the structure (list lengths, channels divisible
// by norm_num_groups and by the head counts, skip connections that fit), so a config it accepts
// builds a network that runs.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace stipple {

enum class UNetDownBlockType { kCrossAttnDownBlock2D, kDownBlock2D };
enum class UNetUpBlockType { kUpBlock2D, kCrossAttnUpBlock2D };
enum class UNetActivation { kNone, kSilu, kMish, kGelu, kRelu };

std::string_view UNetActivationName(UNetActivation activation);

struct UNet2DConditionConfig {
  int sample_height = 0;  // sample_size (the native latent size); 0 when the file has none
  int sample_width = 0;
  int in_channels = 4;
  int out_channels = 4;
  bool center_input_sample = false;  // sample → 2 sample - 1 first
  bool flip_sin_to_cos = true;
  double freq_shift = 0;

  // One entry per down block (n blocks); up block j mirrors down block n - 1 - j.
  std::vector<UNetDownBlockType> down_block_types;
  std::vector<UNetUpBlockType> up_block_types;
  std::vector<int> block_out_channels;
  std::vector<int> layers_per_block;  // ResNets per down block; its up mirror has one more
  std::vector<int> attention_heads;   // resolved (num_attention_heads or attention_head_dim)
  std::vector<int> cross_attention_dim;
  std::vector<bool> only_cross_attention;  // attn1 attends to the encoder states too
  // Transformer blocks of each attention layer: [down block][layer] (layers_per_block[i]
  // entries) and [up block][layer] (layers_per_block[n-1-j] + 1 entries).
  std::vector<std::vector<int>> down_transformer_layers;
  std::vector<std::vector<int>> up_transformer_layers;

  bool has_mid_block = true;  // mid_block_type "UNetMidBlock2DCrossAttn"
  int mid_transformer_layers = 1;
  double mid_block_scale_factor = 1;  // the mid block's ResNets divide their output by this

  int downsample_padding = 1;  // 0: pad right/bottom by one, then a stride-2 conv without padding
  UNetActivation act_fn = UNetActivation::kSilu;
  int norm_num_groups = 32;
  double norm_eps = 1e-5;
  bool use_linear_projection = false;  // transformers' proj_in/proj_out: Linear, else 1x1 conv
  bool upcast_attention = false;       // attention scores and softmax in fp32
  bool resnet_scale_shift = false;     // resnet_time_scale_shift "scale_shift"

  int time_embed_dim = 0;  // resolved: time_embedding_dim or 4 * block_out_channels[0]
  UNetActivation time_embedding_act_fn = UNetActivation::kNone;  // on the summed embedding
  UNetActivation timestep_post_act = UNetActivation::kNone;      // after time_embedding
  int time_cond_proj_dim = 0;  // 0: none; else timestep_cond (B, dim) → time_embedding.cond_proj

  // SDXL's addition_embed_type "text_time": time_ids (B, k) through the timestep sinusoid at
  // addition_time_embed_dim, after the pooled text embedding (B, p), p + k * that dim =
  // projection_class_embeddings_input_dim, through add_embedding, added to the time embedding.
  bool addition_text_time = false;
  int addition_time_embed_dim = 0;
  int projection_class_embeddings_input_dim = 0;

  // addition_embed_type "text": the encoder states (B, T, cross_attention_dim) through
  // add_embedding — layer norm, attention pooling (one query: their mean over T plus a learned
  // position, addition_text_heads heads over the states and that query, no output projection),
  // a projection to time_embed_dim, layer norm — added to the time embedding.
  bool addition_text = false;
  int addition_text_heads = 64;  // addition_embed_type_num_heads

  int conv_in_kernel = 3;
  int conv_out_kernel = 3;

  int num_blocks() const { return static_cast<int>(block_out_channels.size()); }
  bool down_has_attention(int i) const {
    return down_block_types[i] == UNetDownBlockType::kCrossAttnDownBlock2D;
  }
  bool up_has_attention(int j) const {
    return up_block_types[j] == UNetUpBlockType::kCrossAttnUpBlock2D;
  }
};

// Parses the text of a config.json; `file_name` (e.g. "unet/config.json") starts every message.
Result<UNet2DConditionConfig> ParseUNet2DConditionConfig(std::string_view json,
                                                         std::string_view file_name);

}  // namespace stipple
