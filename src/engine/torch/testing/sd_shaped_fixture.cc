#include "engine/torch/testing/sd_shaped_fixture.h"

#include <torch/torch.h>

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <utility>

#include "engine/clip_text_config.h"
#include "engine/clip_vocabulary.h"
#include "engine/safetensors.h"
#include "engine/torch/autoencoder_kl.h"
#include "engine/torch/clip_text_model.h"
#include "engine/torch/unet2d_condition.h"
#include "engine/torch/weights.h"
#include "engine/unet2d_config.h"
#include "engine/vae_config.h"

namespace stipple {
namespace {

namespace fs = std::filesystem;

// SD 1.5's configs as its diffusers folder has them (the fields that shape the computation).
constexpr const char* kModelIndex = R"({"_class_name": "StableDiffusionPipeline",
 "_diffusers_version": "0.27.2", "feature_extractor": [null, null],
 "requires_safety_checker": false, "safety_checker": [null, null],
 "scheduler": ["diffusers", "PNDMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
 "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
 "vae": ["diffusers", "AutoencoderKL"]})";

constexpr const char* kUNet = R"({"_class_name": "UNet2DConditionModel",
 "_diffusers_version": "0.27.2", "act_fn": "silu", "attention_head_dim": 8,
 "block_out_channels": [320, 640, 1280, 1280], "center_input_sample": false,
 "cross_attention_dim": 768,
 "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                      "DownBlock2D"],
 "downsample_padding": 1, "flip_sin_to_cos": true, "freq_shift": 0, "in_channels": 4,
 "layers_per_block": 2, "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32,
 "out_channels": 4, "sample_size": 64,
 "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                    "CrossAttnUpBlock2D"]})";

constexpr const char* kVae = R"({"_class_name": "AutoencoderKL", "_diffusers_version": "0.27.2",
 "act_fn": "silu", "block_out_channels": [128, 256, 512, 512],
 "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D",
                      "DownEncoderBlock2D"],
 "in_channels": 3, "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32,
 "out_channels": 3, "sample_size": 512,
 "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D",
                    "UpDecoderBlock2D"]})";

constexpr const char* kTextEncoder = R"({"architectures": ["CLIPTextModel"],
 "attention_dropout": 0.0, "bos_token_id": 0, "dropout": 0.0, "eos_token_id": 2,
 "hidden_act": "quick_gelu", "hidden_size": 768, "initializer_factor": 1.0,
 "initializer_range": 0.02, "intermediate_size": 3072, "layer_norm_eps": 1e-05,
 "max_position_embeddings": 77, "model_type": "clip_text_model", "num_attention_heads": 12,
 "num_hidden_layers": 12, "pad_token_id": 1, "projection_dim": 768, "torch_dtype": "float32",
 "transformers_version": "4.25.1", "vocab_size": 49408})";

constexpr const char* kScheduler = R"({"_class_name": "PNDMScheduler",
 "_diffusers_version": "0.27.2", "beta_end": 0.012, "beta_schedule": "scaled_linear",
 "beta_start": 0.00085, "clip_sample": false, "num_train_timesteps": 1000,
 "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1, "trained_betas": null})";

constexpr const char* kTokenizerConfig = R"({"model_max_length": 77,
 "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
 "unk_token": "<|endoftext|>"})";

Status WriteText(const fs::path& path, std::string_view text) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) return UnavailableError("cannot write " + path.string());
  return Status::Ok();
}

size_t ElementBytes(const SdShape& shape) { return shape.dtype == "F16" ? 2 : 4; }

// Writes `weights` as shards of about `shape.shard_bytes` with a diffusers/transformers index.
Status WriteSharded(const fs::path& dir, const std::string& stem, SafetensorsFile weights,
                    const SdShape& shape) {
  const size_t element_bytes = ElementBytes(shape);
  std::vector<SafetensorsFile> shards(1);
  size_t bytes = 0;
  for (auto& [name, tensor] : weights.tensors) {
    const size_t size = tensor.values.size() * element_bytes;
    if (bytes > 0 && bytes + size > shape.shard_bytes) {
      shards.emplace_back();
      bytes = 0;
    }
    bytes += size;
    shards.back().tensors.emplace(name, std::move(tensor));
  }
  boost::json::object weight_map;
  size_t total = 0;
  for (size_t i = 0; i < shards.size(); ++i) {
    char file[96];
    std::snprintf(file, sizeof file, "%s-%05zu-of-%05zu.safetensors", stem.c_str(), i + 1,
                  shards.size());
    for (const auto& [name, tensor] : shards[i].tensors) {
      weight_map[name] = file;
      total += tensor.values.size() * element_bytes;
    }
    RETURN_IF_ERROR(WriteSafetensorsFile((dir / file).string(), shards[i], {.dtype = shape.dtype}));
    shards[i] = {};
  }
  boost::json::object index{{"metadata", {{"total_size", total}}},
                            {"weight_map", std::move(weight_map)}};
  return WriteText(dir / (stem + ".safetensors.index.json"), boost::json::serialize(index));
}

// `base` (a JSON object) with `field` set to `values`, serialized.
std::string WithChannels(const char* base, const char* field, const std::vector<int>& values,
                         int sample_size = 0) {
  boost::json::object config = boost::json::parse(base).as_object();
  boost::json::array channels(values.begin(), values.end());
  config[field] = std::move(channels);
  if (sample_size > 0) config["sample_size"] = sample_size;
  return boost::json::serialize(config);
}

}  // namespace

Status WriteSd15ShapedModel(const std::string& dir, uint64_t seed) {
  return WriteSdShapedModel(dir, SdShape{}, seed);
}

Status WriteSdShapedModel(const std::string& dir_text, const SdShape& shape, uint64_t seed) {
  const fs::path dir(dir_text);
  const std::string unet_json =
      WithChannels(kUNet, "block_out_channels", shape.unet_channels, shape.sample_size);
  const std::string vae_json = WithChannels(kVae, "block_out_channels", shape.vae_channels);
  torch::manual_seed(seed);
  torch::NoGradGuard no_grad;
  RETURN_IF_ERROR(WriteText(dir / "model_index.json", kModelIndex));
  RETURN_IF_ERROR(WriteText(dir / "scheduler" / "scheduler_config.json", kScheduler));
  RETURN_IF_ERROR(WriteText(dir / "tokenizer" / "vocab.json", ClipVocabJson()));
  RETURN_IF_ERROR(WriteText(dir / "tokenizer" / "merges.txt", ClipMergesTxt()));
  RETURN_IF_ERROR(WriteText(dir / "tokenizer" / "tokenizer_config.json", kTokenizerConfig));
  {
    RETURN_IF_ERROR(WriteText(dir / "text_encoder" / "config.json", kTextEncoder));
    ASSIGN_OR_RETURN(ClipTextConfig config, ParseClipTextConfig(kTextEncoder, "config.json"));
    torch_engine::ClipTextModel model(config);
    RETURN_IF_ERROR(WriteSafetensorsFile((dir / "text_encoder" / "model.safetensors").string(),
                                         torch_engine::ExportWeights(*model),
                                         {.dtype = shape.dtype}));
  }
  {
    RETURN_IF_ERROR(WriteText(dir / "vae" / "config.json", vae_json));
    ASSIGN_OR_RETURN(AutoencoderKLConfig config, ParseAutoencoderKLConfig(vae_json, "config.json"));
    torch_engine::AutoencoderKL model(config);
    RETURN_IF_ERROR(
        WriteSafetensorsFile((dir / "vae" / "diffusion_pytorch_model.safetensors").string(),
                             torch_engine::ExportWeights(*model), {.dtype = shape.dtype}));
  }
  RETURN_IF_ERROR(WriteText(dir / "unet" / "config.json", unet_json));
  ASSIGN_OR_RETURN(UNet2DConditionConfig config,
                   ParseUNet2DConditionConfig(unet_json, "config.json"));
  SafetensorsFile weights;
  size_t bytes = 0;
  {
    torch_engine::UNet2DCondition model(config);
    weights = torch_engine::ExportWeights(*model);
  }
  for (const auto& [name, tensor] : weights.tensors) {
    bytes += tensor.values.size() * ElementBytes(shape);
  }
  if (bytes <= shape.shard_bytes) {
    return WriteSafetensorsFile((dir / "unet" / "diffusion_pytorch_model.safetensors").string(),
                                weights, {.dtype = shape.dtype});
  }
  return WriteSharded(dir / "unet", "diffusion_pytorch_model", std::move(weights), shape);
}

uint64_t SdShapedModelBytes(const SdShape& shape) {
  // The text encoder (123M parameters) does not scale; the UNet's parameters grow with the
  // square of its widths (860M at 320..1280), the VAE's likewise (84M at 128..512).
  auto scaled = [](double at_sd15, const std::vector<int>& widths, const std::vector<int>& sd15) {
    double ratio = 0;
    for (size_t i = 0; i < widths.size() && i < sd15.size(); ++i) {
      ratio = std::max(ratio, static_cast<double>(widths[i]) / sd15[i]);
    }
    return at_sd15 * ratio * ratio;
  };
  const double parameters = 123.1e6 + scaled(859.5e6, shape.unet_channels, {320, 640, 1280, 1280}) +
                            scaled(83.7e6, shape.vae_channels, {128, 256, 512, 512});
  return static_cast<uint64_t>(parameters * static_cast<double>(ElementBytes(shape))) +
         (8u << 20);  // the tokenizer's files and the headers
}

}  // namespace stipple
