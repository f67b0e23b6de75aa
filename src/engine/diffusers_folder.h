// The layout of a diffusers model folder: which pipeline it is, where each part's config and
// weight files are. Torch-free; it reads model_index.json and the small config files, checks that
// every file a part needs exists, and leaves the weights unread (ReadPartWeights reads them).
//
//   <dir>/model_index.json              {"_class_name": "StableDiffusionPipeline", ...,
//                                         "unet": ["diffusers", "UNet2DConditionModel"], ...}
//   <dir>/unet/config.json              + weights (below)
//   <dir>/vae/config.json               + weights
//   <dir>/text_encoder/config.json      + weights      (text_encoder_2/ too for SDXL)
//   <dir>/tokenizer/{tokenizer_config.json, vocab.json, merges.txt[, special_tokens_map.json]}
//                                                      (tokenizer_2/ too for SDXL)
//   <dir>/scheduler/scheduler_config.json
//
// Pipelines: StableDiffusionPipeline, StableDiffusionImg2ImgPipeline and
// StableDiffusionInpaintPipeline (SD 1.x or 2.x), StableDiffusionXLPipeline and its Img2Img and
// Inpaint classes (SDXL; not with requires_aesthetics_score, the refiner's conditioning): one
// set of parts (an inpainting UNet is told by its 9 input channels). Any other _class_name
// (SD3, Flux, Kandinsky, ...) is kInvalidArgument naming it. SD 1.x and 2.x share the pipeline
// class; the family is told from the text encoder's config: hidden_act "quick_gelu" (CLIP ViT-L,
// transformers' default when absent) → SD 1.x, "gelu" (OpenCLIP ViT-H) → SD 2.x. Whether a model
// predicts ε or v is the scheduler config's prediction_type, not the family.
//
// Components: every entry of model_index.json whose value is [library, class] (or [null, null],
// an absent component). Required: unet ["diffusers", "UNet2DConditionModel"], vae ["diffusers",
// "AutoencoderKL"] — or, in a StableDiffusionPipeline, "vae": [null, null]: a pixel-space model,
// whose UNet denoises the image itself (its in/out channels are the image's 3; docs/engine.md) —
// text_encoder ["transformers", "CLIPTextModel"], tokenizer ["transformers", "CLIPTokenizer" |
// "CLIPTokenizerFast"], scheduler ["diffusers", any *Scheduler class — its class is reported as the
// folder's default, the engine runs the scheduler a request names]; SDXL also text_encoder_2
// ["transformers", "CLIPTextModelWithProjection"] and tokenizer_2. safety_checker,
// feature_extractor and image_encoder are not used and are ignored whatever they hold (no safety
// checker runs). Any other class for a known component, or an unknown component, is
// kInvalidArgument naming it. Each diffusers part's config.json must carry the same _class_name,
// each transformers part's "architectures" (when present) the same class.
//
// stipple's own defaults for requests may be given in model_index.json under "_stipple_defaults"
// (a metadata key, which diffusers ignores): {"steps": 1..150, "guidance_scale": 0..30}, each
// optional; any other key or value is kInvalidArgument naming it.
//
// Weights of a part (base name diffusion_pytorch_model for diffusers parts, model for
// transformers parts), first match wins:
//   1. the requested variant V (options.variant, e.g. "fp16"): <base>.V.safetensors, or its
//      shards through <base>.safetensors.index.V.json (the name diffusers and transformers write)
//      or <base>.V.safetensors.index.json;
//   2. <base>.safetensors, or its shards through <base>.safetensors.index.json;
//   3. the fp16 variant, as in 1.
// A shard index is {"metadata": {...}, "weight_map": {tensor: shard file}}: every shard it names
// must be a file in the part's folder. A part with only pickle weights (.bin, .ckpt, .pt, .pth)
// is kInvalidArgument: loading a pickle runs arbitrary code, so they are refused; the message
// says how to convert them (save with safetensors: diffusers' / transformers'
// save_pretrained(..., safe_serialization=True)).
//
// Errors, each message starting with the path of the file or folder at fault:
//   kNotFound         a required file or folder is missing (model_index.json, a part's folder,
//                     its config, a weight file, a shard the index names)
//   kInvalidArgument  an unsupported pipeline, component class or variant name; pickle-only
//                     weights; a field with the wrong type or value (named)
//   kDataLoss         a JSON file that does not parse, a shard index that is not an index,
//                     shards that disagree with their index (ReadPartWeights), a truncated or
//                     corrupt safetensors file (ReadPartWeights)
//   kUnavailable      a file that exists but cannot be read
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/safetensors.h"
#include "engine/sd_family.h"

namespace stipple {

// "sd1", "sd2", "sdxl".

struct DiffusersPart {
  std::string name;         // "unet", "vae", "text_encoder", "tokenizer_2", "scheduler", ...
  std::string library;      // "diffusers" or "transformers"
  std::string class_name;   // "UNet2DConditionModel", "CLIPTextModel", "EulerDiscreteScheduler"
  std::string dir;          // <folder>/<name>
  std::string config_path;  // config.json; scheduler_config.json; tokenizer_config.json
  // Model parts: the files holding the weights, one file or every shard (sorted); empty for
  // tokenizers and schedulers.
  std::vector<std::string> weight_files;
  std::string index_path;  // the shard index, when sharded
  std::string variant;     // the variant the weight files are ("fp16"), or empty
  // Tokenizers: vocab.json and merges.txt (required), special_tokens_map.json (empty if absent).
  std::string vocab_path;
  std::string merges_path;
  std::string special_tokens_map_path;
};

// model_index.json's "_stipple_defaults" (see above); unset: the family's defaults.
struct ModelDefaults {
  std::optional<int> steps;
  std::optional<double> guidance_scale;
};

struct DiffusersFolder {
  std::string dir;
  std::string pipeline_class;     // model_index.json's _class_name
  std::string diffusers_version;  // its _diffusers_version (empty if absent)
  SdFamily family = SdFamily::kSd1;
  // SDXL: an empty negative prompt conditions on zeros rather than on the embedding of "".
  // Always false for StableDiffusionPipeline (which has no such setting).
  bool force_zeros_for_empty_prompt = false;
  ModelDefaults defaults;
  DiffusersPart unet;
  std::optional<DiffusersPart> vae;  // absent: a pixel-space model ("vae": [null, null])
  DiffusersPart text_encoder;
  DiffusersPart tokenizer;
  DiffusersPart scheduler;
  std::optional<DiffusersPart> text_encoder_2;  // SDXL
  std::optional<DiffusersPart> tokenizer_2;     // SDXL
};

struct DiffusersFolderOptions {
  // A weight variant to prefer ("fp16", "bf16", "ema", ...; letters, digits, '_' and '-'),
  // empty for none. A variant that a part lacks falls back as described above.
  std::string variant;
};

Result<DiffusersFolder> ReadDiffusersFolder(const std::string& dir,
                                            const DiffusersFolderOptions& options = {});

// Whether `dir` looks like a diffusers folder (holds a model_index.json), without checking it.
bool IsDiffusersFolder(const std::string& dir);

// Reads a model part's weights: its one file, or every shard merged into one tensor map (and the
// shards' metadata merged). With an index, each tensor must be in the shard the index names and
// in no other, and every shard tensor must be in the index: otherwise kDataLoss naming the
// tensor and the files. Tensors of other dtypes than F32/F16/BF16 (integer buffers such as older
// CLIP text encoders' I64 position_ids) are left out and listed in `skipped`.
// kFailedPrecondition for a part without weight files (tokenizer, scheduler).
Result<SafetensorsFile> ReadPartWeights(const DiffusersPart& part);

}  // namespace stipple
