// Model files on disk: which models a --model-dir holds, and what each allows and defaults to,
// read from its files without loading any weights (so a gateway without libtorch can validate
// requests for them). Torch-free.
//
// A model is one of:
//   - a folder with model_index.json: Stable Diffusion in the diffusers layout;
//   - a .safetensors file: a single-file Stable Diffusion checkpoint (LDM/A1111 key layout);
//   - a folder with null_model.json: the built-in null model (engine/null_engine.h), no weights.
// Its name is the folder's name, or the file's name without ".safetensors".
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "core/generation_request.h"
#include "engine/diffusers_folder.h"
#include "engine/null_engine.h"
#include "engine/sd_family.h"

namespace stipple {

enum class ModelFormat { kDiffusers, kSingleFile, kNull };

struct ModelPath {
  std::string name;
  std::string path;  // empty for the built-in null model (BuiltinNullModel)
  ModelFormat format = ModelFormat::kDiffusers;
};

// Whether `path` is a model itself; kNotFound when it is not.
Result<ModelPath> ModelAt(const std::string& path);

// The built-in null model, with its defaults: what `--model null` names when the model folder has
// no model of that name.
ModelPath BuiltinNullModel();

// Its options: from the folder's null_model.json, or the defaults for the built-in one.
// kNotFound / kInvalidArgument naming the file.
Result<NullModelOptions> NullModelOptionsOf(const ModelPath& model);

// The models `path` names: `path` itself when it is a model, else every model directly inside
// it, sorted by name (other entries are ignored). kNotFound when `path` does not exist or holds
// no model; kInvalidArgument when two models inside it would have the same name.
Result<std::vector<ModelPath>> FindModels(const std::string& path);

// The limits and defaults of a Stable Diffusion model: its family, its native size, any width and
// height that are multiples of `size_multiple` (the VAE's downscale factor: the UNet takes latents
// of any size) from `size_multiple` to twice the larger native side,
// every scheduler, 25 steps (SD 1.x/2.x) or 30 (SDXL), guidance 7.5 (SD 1.x/2.x) or 5.0 (SDXL),
// `default_scheduler` (the one its scheduler config names), and clip_skip up to
// `text_encoder_layers` − 1 (the layer count of its text encoder, SDXL: of the shallower one);
// `defaults` (a folder's _stipple_defaults) override the steps and the guidance.
// A native size of 0 (a config without sample_size) takes the family's: 512, or 1024 for SDXL.
// size_multiple 0 is a pixel-space model (no VAE): its native size only, which must be given —
// it learnt its pictures at that size in pixels.
ModelLimits SdModelLimits(std::string name, SdFamily family, int native_width, int native_height,
                          int size_multiple, const std::string& default_scheduler,
                          int text_encoder_layers, const ModelDefaults& defaults = {});

// The native size (sample_size) a pixel-space UNet must state; kInvalidArgument naming
// `config_path` when it has none.
Status CheckPixelSpaceSize(int sample_width, int sample_height, const std::string& config_path);

// The limits of the model at `model`, from its configs (a single file's header and, where the
// keys cannot tell, its family's conventions). Errors as loading would report them for the
// configs: kNotFound, kInvalidArgument, kDataLoss, each naming the file.
Result<ModelLimits> DescribeModel(const ModelPath& model);

}  // namespace stipple
