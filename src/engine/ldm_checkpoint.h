// Single-file Stable Diffusion checkpoints: one .safetensors in the original LDM key layout (the
// form A1111, ComfyUI and Civitai share), converted by name, in memory, into the diffusers parts
// a diffusers folder holds — each part's tensors under its diffusers names and its config.json
// text — so that the engine loads single files and folders through the same code. Torch-free.
//
// Source layout → parts:
//   model.diffusion_model.*                     unet            (UNet2DConditionModel names)
//   first_stage_model.*                         vae             (AutoencoderKL names; the mid
//                                                                attention's 1×1 convolutions
//                                                                become [C, C] linear weights)
//   cond_stage_model.transformer.*     SD 1.x   text_encoder    (CLIPTextModel names, text_model.*;
//                                                                old files without "text_model.")
//   cond_stage_model.model.*           SD 2.x   text_encoder    (OpenCLIP: in_proj split into
//                                                                q/k/v; the last layer and
//                                                                text_projection dropped, as
//                                                                SD 2.x uses the penultimate one)
//   conditioner.embedders.0.transformer.*  SDXL text_encoder    (CLIPTextModel names)
//   conditioner.embedders.1.model.*        SDXL text_encoder_2  (OpenCLIP → CLIPTextModelWith-
//                                                                Projection, text_projection.weight
//                                                                transposed)
// The family comes from which text encoder keys are present and is checked against the UNet's
// cross-attention width. Every architecture number the keys and shapes carry is read from them
// (levels, channels, layers per block, attention levels, transformer depth, linear or 1×1-conv
// projections, context width, SDXL's added embedding, VAE and text encoder sizes); the rest comes
// from the family's conventions, overridable by LdmOverrides (e.g. from an A1111 NAME.yaml):
//   all     GroupNorm of 32 groups, 4 latent channels' VAE, text-encoder heads of 64 channels,
//           scaled_linear betas 0.00085–0.012 over 1000 steps, steps_offset 1, leading spacing
//   SD 1.x  UNet attention of 8 heads, quick_gelu text encoder, ε prediction, 512 px, PNDM config
//   SD 2.x  UNet heads of 64 channels, gelu text encoder, v prediction and 768 px (diffusers'
//           guess for a file that does not say; ε → 512 px), DDIM config
//   SDXL    UNet heads of 64 channels, quick_gelu / gelu encoders, ε, 1024 px, VAE scaling
//           0.13025, Euler config
// A ComfyUI `v_pred` marker tensor or `modelspec.prediction_type` metadata ("v" / "epsilon")
// says the prediction type; a `ztsnr` marker means zero terminal SNR (rescale_betas_zero_snr).
//
// Tensors are moved from the input, never copied, except the few that must be rearranged (OpenCLIP
// q/k/v splits and the text projection's transpose).
//
// Errors are kInvalidArgument and name the source: no recognisable family (or a family this
// engine does not run: SDXL refiner, unCLIP, inpainting unless allowed), a tensor the mapping
// needs that is missing, a shape other than the inferred configuration needs, a tensor of a dtype
// other than F32/F16/BF16, and tensors that map to nothing (the first few listed). Tensors known
// to carry nothing the engine needs are dropped silently and listed in `dropped`:
//   model_ema.*, the noise schedule buffers (alphas_cumprod, betas, posterior_*, sqrt_*,
//   log_one_minus_alphas_cumprod, logvar, lvlb_weights, denoiser.*), first_stage_model.loss.*,
//   the text encoders' position_ids, OpenCLIP's logit_scale and attn_mask, SD 2.x's unused last
//   text layer and text_projection, and the v_pred / ztsnr markers.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/safetensors.h"
#include "engine/sd_family.h"

namespace stipple {

// What keys and shapes cannot tell. Unset fields take the family's convention.
struct LdmOverrides {
  std::optional<std::string> prediction_type;  // "epsilon" | "v_prediction"
  // UNet attention heads: num_head_channels (channels per head) wins over num_heads (heads per
  // attention block), as in LDM; values <= 0 mean unset.
  std::optional<int> num_heads;
  std::optional<int> num_head_channels;
  // Checked against the weights (a mismatch is an error): they cannot be overridden.
  std::optional<bool> use_linear_projection;
  std::optional<int64_t> context_dim;
  std::optional<double> scale_factor;  // the VAE's scaling_factor
  std::optional<double> beta_start, beta_end;
  std::optional<int> num_train_timesteps;
};

struct LdmOptions {
  LdmOverrides overrides;
  // Convert an inpainting UNet (9 input channels) instead of refusing it.
  bool allow_inpainting = false;
  // LoadLdmCheckpoint reads the file's header only: the result has the family and every config,
  // and its parts' tensors have their shapes but no values (to describe a model cheaply).
  bool header_only = false;
};

struct LdmUNetConfig {
  int in_channels = 4;
  int out_channels = 4;
  int conv_in_kernel = 3;
  int conv_out_kernel = 3;
  std::vector<int> block_out_channels;
  int layers_per_block = 2;
  std::vector<bool> down_cross_attention;         // per level: CrossAttnDownBlock2D or DownBlock2D
  std::vector<bool> up_cross_attention;           // per up block (deepest first)
  std::vector<int> transformer_layers_per_block;  // per level (the mid block uses the last)
  // Heads per attention (diffusers' "attention_head_dim"): one value, or one per level.
  std::vector<int> attention_heads;
  bool attention_heads_per_level = false;
  int cross_attention_dim = 768;
  bool use_linear_projection = false;
  int time_embedding_dim = 0;  // 0: diffusers' default, 4 × block_out_channels[0]
  // SDXL's "text_time" added embedding; 0 when absent.
  int addition_time_embed_dim = 0;
  int projection_class_embeddings_input_dim = 0;
  int norm_num_groups = 32;
  int sample_size = 64;
};

struct LdmVaeConfig {
  int in_channels = 3;
  int out_channels = 3;
  std::vector<int> block_out_channels;
  int layers_per_block = 2;
  int latent_channels = 4;
  int norm_num_groups = 32;
  int sample_size = 512;
  double scaling_factor = 0.18215;
  bool force_upcast = true;
};

struct LdmTextEncoderConfig {
  bool with_projection = false;  // CLIPTextModelWithProjection
  int vocab_size = 49408;
  int hidden_size = 768;
  int intermediate_size = 3072;
  int num_hidden_layers = 12;
  int num_attention_heads = 12;
  int max_position_embeddings = 77;
  int projection_dim = 768;  // text_projection's output; hidden_size without one
  std::string hidden_act = "quick_gelu";
};

struct LdmSchedulerConfig {
  std::string class_name;  // PNDMScheduler (SD 1.x), DDIMScheduler (SD 2.x), EulerDiscreteScheduler
  std::string prediction_type = "epsilon";
  double beta_start = 0.00085;
  double beta_end = 0.012;
  int num_train_timesteps = 1000;
  bool rescale_betas_zero_snr = false;
};

struct LdmCheckpoint {
  SdFamily family = SdFamily::kSd1;
  bool inpainting = false;      // the UNet takes 9 channels (latents, mask, masked-image latents)
  std::string prediction_type;  // "epsilon" | "v_prediction"
  int image_size = 512;         // the family's native size (pixels, square)

  // Each part's tensors under diffusers names (text_encoder_2: SDXL only, else empty).
  SafetensorsFile unet, vae, text_encoder, text_encoder_2;
  LdmUNetConfig unet_config;
  LdmVaeConfig vae_config;
  LdmTextEncoderConfig text_encoder_config;
  std::optional<LdmTextEncoderConfig> text_encoder_2_config;
  LdmSchedulerConfig scheduler_config;

  // The diffusers files' text, in the form diffusers 0.27.2 writes them: "model_index" and, per
  // part, "unet", "vae", "text_encoder", ("text_encoder_2"), "scheduler" (config.json /
  // scheduler_config.json).
  std::map<std::string, std::string> config_json;

  std::vector<std::string> dropped;  // source tensors dropped as carrying nothing needed, sorted
};

// Converts a single-file checkpoint's tensors (moved in). `source` names the file in errors.
// `file.skipped` (tensors of other dtypes) may hold only droppable tensors.
Result<LdmCheckpoint> ConvertLdmCheckpoint(SafetensorsFile file, std::string_view source,
                                           const LdmOptions& options = {});

// Reads `path` (refusing pickles, see below), takes the overrides of an A1111-style NAME.yaml
// beside it when there is one (options.overrides' set fields win over the yaml's), and converts.
Result<LdmCheckpoint> LoadLdmCheckpoint(const std::string& path, const LdmOptions& options = {});

// OK unless `path` names a pickle checkpoint (.ckpt, .pt, .pth, .bin): then kInvalidArgument
// saying why stipple does not load it (unpickling runs arbitrary code) and how to convert it.
Status RefusePickleCheckpoint(std::string_view path);

// The overrides an LDM inference yaml carries: model.params.{parameterization, scale_factor,
// linear_start, linear_end, timesteps}, {unet,network}_config.params.{num_heads,
// num_head_channels, use_linear_in_transformer, context_dim}, and SDXL's
// denoiser_config...scaling_config.target (VScaling → v prediction). Other keys are ignored.
// kInvalidArgument naming `source` for text that is not YAML or a field of the wrong type.
Result<LdmOverrides> ParseLdmYaml(std::string_view text, std::string_view source);
// NAME.yaml beside NAME.safetensors: nullopt when there is none.
Result<std::optional<LdmOverrides>> ReadLdmYamlBeside(const std::string& checkpoint_path);

// The diffusers JSON text of each config (sorted keys, every field diffusers 0.27.2 writes).
std::string UNetConfigJson(const LdmUNetConfig& config);
std::string VaeConfigJson(const LdmVaeConfig& config);
std::string TextEncoderConfigJson(const LdmTextEncoderConfig& config);
std::string SchedulerConfigJson(const LdmSchedulerConfig& config);
std::string ModelIndexJson(SdFamily family, const LdmSchedulerConfig& scheduler);

}  // namespace stipple
