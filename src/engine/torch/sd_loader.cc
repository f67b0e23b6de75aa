#include "engine/torch/sd_loader.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <utility>

#include "common/file.h"
#include "common/log.h"
#include "engine/clip_text_config.h"
#include "engine/clip_tokenizer.h"
#include "engine/clip_vocabulary.h"
#include "engine/diffusers_folder.h"
#include "engine/ldm_checkpoint.h"
#include "engine/scheduler_config.h"
#include "engine/unet2d_config.h"
#include "engine/vae_config.h"

namespace stipple::torch_engine {
namespace {

namespace fs = std::filesystem;

// A pipeline on the CPU allocates and frees the same activation buffers (MBs to tens of MBs)
// at every operator. glibc's defaults hand blocks over its mmap threshold back to the kernel on
// free, and its threshold adapts only up to the largest block freed so far, trimming the heap's top
// beyond twice that: each new buffer then costs page faults and the kernel's zeroing of its
// pages. Measured on engine_bench's SD-shaped model, one thread: a batch-4 call spent about half
// its CPU time there (10.1 s against 4.5 s with this). Blocks up to 32 MiB (glibc's largest
// threshold on 64-bit) now come from the heap, and up to 256 MiB of free memory at its top stays
// mapped for the next call — the process keeps its working set instead of faulting it in again.
void KeepFreedMemoryForReuse() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (mallopt(M_MMAP_THRESHOLD, 32 << 20) != 1 || mallopt(M_TRIM_THRESHOLD, 256 << 20) != 1) {
      LogWarn("engine: malloc kept its defaults (mallopt refused the thresholds)");
    }
  });
}

// One part of a model as both sources give it: its config.json text and its tensors, each with
// the name errors use.
struct PartSource {
  std::string config_name;
  std::string config_json;
  std::string weights_name;
  SafetensorsFile weights;
};

// What both sources give before any module exists.
struct SdSource {
  SdFamily family = SdFamily::kSd1;
  PartSource unet, text_encoder;
  std::optional<PartSource> vae;  // absent: a pixel-space model
  std::optional<PartSource> text_encoder_2;
  std::unique_ptr<Tokenizer> tokenizer, tokenizer_2;
  std::string scheduler_name, scheduler_json;
  bool force_zeros_for_empty_prompt = false;
  ModelDefaults defaults;
};

int64_t Parameters(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const torch::Tensor& p : module.parameters()) n += p.numel();
  return n;
}

// Every id the tokenizer gives must have a row in the text encoder's token embedding.
Status CheckVocabulary(const Tokenizer& tokenizer, const ClipTextModel& encoder,
                       const std::string& path, const char* part) {
  const int rows = encoder->config().vocab_size;
  if (tokenizer.vocab_size() <= rows) return Status::Ok();
  return InvalidArgumentError(path + ": the " + std::string(part) + " has " + std::to_string(rows) +
                              " token embeddings, but its tokenizer's "
                              "vocabulary has " +
                              std::to_string(tokenizer.vocab_size()) +
                              " tokens (a single file's text encoder must have CLIP's 49408)");
}

Result<ClipTextModel> BuildTextEncoder(PartSource part, torch::Device device,
                                       torch::ScalarType dtype) {
  ASSIGN_OR_RETURN(ClipTextConfig config, ParseClipTextConfig(part.config_json, part.config_name));
  ClipTextModel model(config);
  RETURN_IF_ERROR(LoadClipTextWeights(model, std::move(part.weights), part.weights_name));
  model->to(device, dtype);
  model->eval();
  return model;
}

Result<UNet2DCondition> BuildUNet(PartSource part, torch::Device device, torch::ScalarType dtype) {
  ASSIGN_OR_RETURN(UNet2DConditionConfig config,
                   ParseUNet2DConditionConfig(part.config_json, part.config_name));
  UNet2DCondition model(config);
  RETURN_IF_ERROR(LoadUNet2DConditionWeights(model, std::move(part.weights), part.weights_name));
  model->to(device, dtype);
  model->eval();
  return model;
}

Result<AutoencoderKL> BuildVae(PartSource part, torch::Device device, torch::ScalarType dtype) {
  ASSIGN_OR_RETURN(AutoencoderKLConfig config,
                   ParseAutoencoderKLConfig(part.config_json, part.config_name));
  AutoencoderKL model(config);
  RETURN_IF_ERROR(LoadAutoencoderKLWeights(model, std::move(part.weights), part.weights_name));
  // A VAE that overflows in half precision stays in fp32 (diffusers' force_upcast).
  model->to(device, config.force_upcast ? torch::kFloat : dtype);
  model->eval();
  return model;
}

Result<PartSource> FolderPart(const DiffusersPart& part) {
  PartSource source;
  source.config_name = part.config_path;
  ASSIGN_OR_RETURN(source.config_json, ReadTextFile(part.config_path));
  source.weights_name = part.weight_files.empty() ? part.dir : part.weight_files.front();
  ASSIGN_OR_RETURN(source.weights, ReadPartWeights(part));
  return source;
}

Result<std::unique_ptr<Tokenizer>> FolderTokenizer(const DiffusersPart& part) {
  ASSIGN_OR_RETURN(std::unique_ptr<ClipTokenizer> tokenizer,
                   ClipTokenizer::LoadDirectory(part.dir));
  return std::unique_ptr<Tokenizer>(std::move(tokenizer));
}

Result<SdSource> FromFolder(const std::string& dir) {
  ASSIGN_OR_RETURN(DiffusersFolder folder, ReadDiffusersFolder(dir));
  SdSource source;
  source.family = folder.family;
  source.force_zeros_for_empty_prompt = folder.force_zeros_for_empty_prompt;
  ASSIGN_OR_RETURN(source.unet, FolderPart(folder.unet));
  source.defaults = folder.defaults;
  if (folder.vae) {
    ASSIGN_OR_RETURN(source.vae, FolderPart(*folder.vae));
  }
  ASSIGN_OR_RETURN(source.text_encoder, FolderPart(folder.text_encoder));
  ASSIGN_OR_RETURN(source.tokenizer, FolderTokenizer(folder.tokenizer));
  if (folder.text_encoder_2 && folder.tokenizer_2) {
    ASSIGN_OR_RETURN(PartSource second, FolderPart(*folder.text_encoder_2));
    source.text_encoder_2 = std::move(second);
    ASSIGN_OR_RETURN(source.tokenizer_2, FolderTokenizer(*folder.tokenizer_2));
  }
  source.scheduler_name = folder.scheduler.config_path;
  ASSIGN_OR_RETURN(source.scheduler_json, ReadTextFile(folder.scheduler.config_path));
  return source;
}

Result<SdSource> FromSingleFile(const std::string& path) {
  ASSIGN_OR_RETURN(LdmCheckpoint checkpoint,
                   LoadLdmCheckpoint(path, LdmOptions{.allow_inpainting = true}));
  SdSource source;
  const std::string name = fs::path(path).filename().string();
  auto part = [&](const char* part_name, SafetensorsFile& weights) {
    PartSource p;
    p.config_name = name + " (" + part_name + " config inferred from the keys)";
    p.config_json = checkpoint.config_json.at(part_name);
    p.weights_name = name + " (" + part_name + ")";
    p.weights = std::move(weights);
    return p;
  };
  source.unet = part("unet", checkpoint.unet);
  source.vae = part("vae", checkpoint.vae);
  source.text_encoder = part("text_encoder", checkpoint.text_encoder);
  source.scheduler_name = name + " (scheduler config from the family's conventions)";
  source.scheduler_json = checkpoint.config_json.at("scheduler");
  // Single files carry no tokenizer: every SD text encoder uses CLIP's vocabulary. SD 1.x pads
  // with <|endoftext|>, SD 2.x and SDXL's second tokenizer with "!".
  source.family = checkpoint.family;
  ASSIGN_OR_RETURN(
      source.tokenizer,
      BuiltInClipTokenizer(checkpoint.family == SdFamily::kSd2 ? "!" : "<|endoftext|>"));
  if (checkpoint.family == SdFamily::kSdxl) {
    source.force_zeros_for_empty_prompt = true;
    source.text_encoder_2 = part("text_encoder_2", checkpoint.text_encoder_2);
    ASSIGN_OR_RETURN(source.tokenizer_2, BuiltInClipTokenizer("!"));
  }
  return source;
}

}  // namespace

Result<std::unique_ptr<SdPipeline>> LoadSdPipeline(const ModelPath& where,
                                                   const TorchEngineOptions& options,
                                                   torch::Device device, torch::ScalarType dtype) {
  const auto start = std::chrono::steady_clock::now();
  if (device.is_cpu()) KeepFreedMemoryForReuse();
  const bool single_file = where.format == ModelFormat::kSingleFile;
  ASSIGN_OR_RETURN(SdSource source,
                   single_file ? FromSingleFile(where.path) : FromFolder(where.path));

  SdModel model;
  model.family = source.family;
  model.force_zeros_for_empty_prompt = source.force_zeros_for_empty_prompt;
  ASSIGN_OR_RETURN(model.scheduler,
                   ParseSchedulerConfig(source.scheduler_json, source.scheduler_name));
  ASSIGN_OR_RETURN(model.text_encoder,
                   BuildTextEncoder(std::move(source.text_encoder), device, dtype));
  if (source.text_encoder_2) {
    ASSIGN_OR_RETURN(model.text_encoder_2,
                     BuildTextEncoder(std::move(*source.text_encoder_2), device, dtype));
  }
  const std::string unet_config_name = source.unet.config_name;
  ASSIGN_OR_RETURN(model.unet, BuildUNet(std::move(source.unet), device, dtype));
  if (source.vae) {
    ASSIGN_OR_RETURN(model.vae, BuildVae(std::move(*source.vae), device, dtype));
  } else {
    RETURN_IF_ERROR(CheckPixelSpaceSize(model.unet->config.sample_width,
                                        model.unet->config.sample_height, unet_config_name));
  }
  // The UNet's channels: the latents' (or, pixel space, the image's) in and out; an inpainting
  // UNet takes [latents, mask, masked-image latents]: 2 · latents + 1 in.
  const int unet_in = model.unet->config.in_channels, unet_out = model.unet->config.out_channels;
  const int latent_channels = model.vae ? model.vae->config().latent_channels : unet_out;
  const bool inpainting = model.vae && unet_in == 2 * latent_channels + 1;
  if (unet_out != latent_channels || (unet_in != latent_channels && !inpainting)) {
    return InvalidArgumentError(unet_config_name + ": the UNet takes " + std::to_string(unet_in) +
                                " channels and gives " + std::to_string(unet_out) + "; the " +
                                (model.vae ? "VAE's latents have " : "model's images have ") +
                                std::to_string(latent_channels) +
                                " (an inpainting UNet takes 2 x that + 1)");
  }
  model.tokenizer = std::move(source.tokenizer);
  model.tokenizer_2 = std::move(source.tokenizer_2);
  RETURN_IF_ERROR(
      CheckVocabulary(*model.tokenizer, model.text_encoder, where.path, "text_encoder"));
  if (model.tokenizer_2) {
    RETURN_IF_ERROR(
        CheckVocabulary(*model.tokenizer_2, model.text_encoder_2, where.path, "text_encoder_2"));
  }

  const int factor = model.vae ? model.vae->config().DownscaleFactor() : 0;  // 0: pixel space
  const int scale = std::max(factor, 1);
  int text_layers = model.text_encoder->config().num_hidden_layers;
  if (!model.text_encoder_2.is_empty()) {
    text_layers = std::min(text_layers, model.text_encoder_2->config().num_hidden_layers);
  }
  ModelLimits limits =
      SdModelLimits(where.name, model.family, model.unet->config.sample_width * scale,
                    model.unet->config.sample_height * scale, factor,
                    model.scheduler.default_scheduler, text_layers, source.defaults);
  limits.inpainting = inpainting;

  int64_t parameters = Parameters(*model.unet) + Parameters(*model.text_encoder);
  if (model.vae) parameters += Parameters(*model.vae);
  if (!model.text_encoder_2.is_empty()) parameters += Parameters(*model.text_encoder_2);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  LogInfo("model loaded", {{"model", limits.name},
                           {"family", limits.family},
                           {"format", single_file ? "single file" : "diffusers folder"},
                           {"parameters", std::to_string(parameters)},
                           {"device", device.str()},
                           {"dtype", std::string(c10::toString(dtype))},
                           {"load_s", std::to_string(seconds)}});
  SdPipelineOptions pipeline;
  pipeline.device = device;
  pipeline.dtype = dtype;
  pipeline.preview_every = options.preview_every;
  return std::make_unique<SdPipeline>(std::move(model), std::move(limits), pipeline);
}

}  // namespace stipple::torch_engine
