// LoRA files: low-rank adapters for a Stable Diffusion model's UNet and text encoders, read from
// .safetensors files and mapped onto the model's own module names (diffusers' names, which
// stipple's modules use). Torch-free.
//
// Key formats (one file may mix them):
//   kohya / A1111   lora_unet_<module with '_'>.{lora_down.weight, lora_up.weight, alpha}
//                   lora_te_ (SD 1.x/2.x text encoder), lora_te1_ / lora_te2_ (SDXL's two).
//                   UNet modules under diffusers' names (SD 1.x/2.x) or the original LDM names
//                   (input_blocks_4_1_..., middle_block_..., output_blocks_...: SDXL).
//   diffusers/PEFT  unet.<module>.{lora_A.weight, lora_B.weight}, text_encoder.<module>...,
//                   text_encoder_2.<module>...; the older .lora.down/.lora.up,
//                   .lora_linear_layer.down/.up and attention-processor
//                   (attn1.processor.to_q_lora.down) spellings; <module>.alpha when present.
// down is (rank, in) or (rank, in, kh, kw), up is (out, rank) or (out, rank, 1, 1): Linear
// layers and 1x1 / 3x3 convolutions. The update of a layer's weight W is
//   W + scale · (alpha / rank) · up · down     (alpha = rank when the file has none).
//
// Family: from the file's metadata (modelspec.architecture, kohya's ss_base_model_version /
// ss_v2), else from its keys and widths — lora_te1_/lora_te2_/text_encoder_2 keys or LDM-named UNet
// keys: sdxl; cross-attention (attn2.to_k/to_v) input width 768: sd1, 1024: sd2, 2048: sdxl; a
// text-encoder layer's width 768: sd1, 1024: sd2.
//
// Every error is kInvalidArgument naming the file and the key (kNotFound / kDataLoss from the
// safetensors reader): a key in no known format, a layer missing its down or up, a module the
// model does not have, a shape that does not fit the module's weight.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "core/generation_request.h"
#include "engine/safetensors.h"
#include "engine/sd_family.h"

namespace stipple {

enum class LoraTarget { kUnet = 0, kTextEncoder = 1, kTextEncoder2 = 2 };
inline constexpr int kLoraTargets = 3;

// "unet", "text_encoder", "text_encoder_2".
std::string_view LoraTargetName(LoraTarget target);

// One adapted layer.
struct LoraLayer {
  LoraTarget target = LoraTarget::kUnet;
  std::string module;  // the module's name inside its part, e.g. "mid_block.attentions.0.proj_in"
  std::string key;     // the file's key prefix, for messages
  FloatTensor down;    // (rank, in) or (rank, in, kh, kw)
  FloatTensor up;      // (out, rank) or (out, rank, 1, 1)
  float alpha = 0;     // the file's alpha, or rank when it has none
  int64_t rank() const { return down.shape.empty() ? 0 : down.shape[0]; }
};

// The layers a model offers to adapt, per part: module name → its weight's shape (Linear
// (out, in), Conv2d (out, in, kh, kw)).
struct LoraModules {
  std::map<std::string, std::vector<int64_t>> parts[kLoraTargets];
};

// A file's family; kInvalidArgument naming the file when neither its metadata nor its keys tell.
// Works on a header-only read (SafetensorsReadOptions::header_only).
Result<SdFamily> DetectLoraFamily(const SafetensorsFile& file, std::string_view file_name);

// Every layer of `file` mapped onto `modules` (errors as the file comment says).
Result<std::vector<LoraLayer>> MapLoraLayers(SafetensorsFile file, std::string_view file_name,
                                             const LoraModules& modules);

// The LoRA folder of a --model-dir: DIR/loras when DIR holds models, or the loras folder beside
// DIR when DIR is a model itself (a diffusers folder or a single file).
std::string LoraDirFor(const std::string& model_dir);

// The LoRA files of `lora_dir` (every *.safetensors directly inside it, by name = the file's
// stem): name → path. An absent folder has none.
std::map<std::string, std::string> FindLoraFiles(const std::string& lora_dir);

// The catalog entries of `files` (name → path), in name order, family from each file's header.
// A file whose header does not read or whose family is unknown is left out and its error
// appended to `errors` (when not null).
std::vector<LoraInfo> DescribeLoraFiles(const std::map<std::string, std::string>& files,
                                        std::vector<Status>* errors);

}  // namespace stipple
