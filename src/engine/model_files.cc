#include "engine/model_files.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "common/file.h"
#include "engine/clip_text_config.h"
#include "engine/diffusers_folder.h"
#include "engine/ldm_checkpoint.h"
#include "engine/scheduler_config.h"
#include "engine/schedulers.h"
#include "engine/unet2d_config.h"
#include "engine/vae_config.h"

namespace stipple {
namespace {

namespace fs = std::filesystem;

std::string NameOf(const fs::path& path) {
  fs::path p = path;
  while (!p.empty() && !p.has_filename()) p = p.parent_path();  // "dir/" → "dir"
  return p.extension() == ".safetensors" ? p.stem().string() : p.filename().string();
}

Result<ModelLimits> DescribeDiffusers(const ModelPath& model) {
  ASSIGN_OR_RETURN(DiffusersFolder folder, ReadDiffusersFolder(model.path));
  ASSIGN_OR_RETURN(std::string unet_json, ReadTextFile(folder.unet.config_path));
  ASSIGN_OR_RETURN(UNet2DConditionConfig unet,
                   ParseUNet2DConditionConfig(unet_json, folder.unet.config_path));
  int factor = 0;  // pixel space
  bool inpainting = false;
  if (folder.vae) {
    ASSIGN_OR_RETURN(std::string vae_json, ReadTextFile(folder.vae->config_path));
    ASSIGN_OR_RETURN(AutoencoderKLConfig vae,
                     ParseAutoencoderKLConfig(vae_json, folder.vae->config_path));
    factor = vae.DownscaleFactor();
    inpainting = unet.in_channels == 2 * vae.latent_channels + 1;  // as LoadSdPipeline
  } else {
    RETURN_IF_ERROR(
        CheckPixelSpaceSize(unet.sample_width, unet.sample_height, folder.unet.config_path));
  }
  ASSIGN_OR_RETURN(std::string scheduler_json, ReadTextFile(folder.scheduler.config_path));
  ASSIGN_OR_RETURN(SchedulerConfig scheduler,
                   ParseSchedulerConfig(scheduler_json, folder.scheduler.config_path));
  int text_layers = 0;
  for (const DiffusersPart* part :
       {&folder.text_encoder, folder.text_encoder_2 ? &*folder.text_encoder_2 : nullptr}) {
    if (part == nullptr) continue;
    ASSIGN_OR_RETURN(std::string text_json, ReadTextFile(part->config_path));
    ASSIGN_OR_RETURN(ClipTextConfig text, ParseClipTextConfig(text_json, part->config_path));
    text_layers =
        text_layers == 0 ? text.num_hidden_layers : std::min(text_layers, text.num_hidden_layers);
  }
  const int scale = std::max(factor, 1);
  ModelLimits limits = SdModelLimits(model.name, folder.family, unet.sample_width * scale,
                                     unet.sample_height * scale, factor,
                                     scheduler.default_scheduler, text_layers, folder.defaults);
  limits.inpainting = inpainting;
  return limits;
}

Result<ModelLimits> DescribeSingleFile(const ModelPath& model) {
  // The header alone: shapes tell the configuration, no weights are read.
  ASSIGN_OR_RETURN(
      LdmCheckpoint checkpoint,
      LoadLdmCheckpoint(model.path, LdmOptions{.allow_inpainting = true, .header_only = true}));
  ASSIGN_OR_RETURN(SchedulerConfig scheduler,
                   ParseSchedulerConfig(checkpoint.config_json.at("scheduler"), model.path));
  int text_layers = checkpoint.text_encoder_config.num_hidden_layers;
  if (checkpoint.text_encoder_2_config) {
    text_layers = std::min(text_layers, checkpoint.text_encoder_2_config->num_hidden_layers);
  }
  ModelLimits limits =
      SdModelLimits(model.name, checkpoint.family, checkpoint.image_size, checkpoint.image_size,
                    1 << (checkpoint.vae_config.block_out_channels.size() - 1),
                    scheduler.default_scheduler, text_layers);
  limits.inpainting = checkpoint.inpainting;
  return limits;
}

}  // namespace

Result<ModelPath> ModelAt(const std::string& path) {
  std::error_code ec;
  const fs::path p(path);
  if (fs::is_regular_file(p, ec) && p.extension() == ".safetensors") {
    return ModelPath{NameOf(p), path, ModelFormat::kSingleFile};
  }
  if (fs::is_directory(p, ec)) {
    if (fs::exists(p / "model_index.json", ec)) {
      return ModelPath{NameOf(p), path, ModelFormat::kDiffusers};
    }
    if (fs::exists(p / kNullModelFile, ec)) return ModelPath{NameOf(p), path, ModelFormat::kNull};
  }
  return NotFoundError(path +
                       ": not a model (a diffusers folder with model_index.json, a "
                       "single-file .safetensors checkpoint, or a folder with null_model.json)");
}

Result<std::vector<ModelPath>> FindModels(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return NotFoundError(path + ": no such file or folder");
  if (Result<ModelPath> one = ModelAt(path); one.ok()) return std::vector<ModelPath>{*one};
  std::vector<ModelPath> models;
  std::map<std::string, std::string> seen;  // name → path
  for (const fs::directory_entry& entry : fs::directory_iterator(path, ec)) {
    Result<ModelPath> model = ModelAt(entry.path().string());
    if (!model.ok()) continue;
    auto [it, added] = seen.emplace(model->name, model->path);
    if (!added) {
      return InvalidArgumentError(path + ": two models named '" + model->name + "': " + it->second +
                                  " and " + model->path);
    }
    models.push_back(std::move(model).value());
  }
  if (ec) return UnavailableError(path + ": cannot list: " + ec.message());
  if (models.empty()) {
    return NotFoundError(path +
                         ": no model in it (diffusers folders with model_index.json, "
                         "single-file .safetensors checkpoints, or folders with null_model.json)");
  }
  std::sort(models.begin(), models.end(),
            [](const ModelPath& a, const ModelPath& b) { return a.name < b.name; });
  return models;
}

Status CheckPixelSpaceSize(int sample_width, int sample_height, const std::string& config_path) {
  if (sample_width > 0 && sample_height > 0) return Status::Ok();
  return InvalidArgumentError(config_path +
                              ": sample_size is required for a pixel-space model (no vae): it is "
                              "the one image size the model runs at");
}

ModelLimits SdModelLimits(std::string name, SdFamily family, int native_width, int native_height,
                          int size_multiple, const std::string& default_scheduler,
                          int text_encoder_layers, const ModelDefaults& defaults) {
  const int fallback = family == SdFamily::kSdxl ? 1024 : 512;
  ModelLimits limits;
  limits.name = std::move(name);
  limits.family = std::string(SdFamilyName(family));
  limits.width = native_width > 0 ? native_width : fallback;
  limits.height = native_height > 0 ? native_height : fallback;
  limits.size_multiple = size_multiple;
  limits.min_size = size_multiple;
  limits.max_size = size_multiple > 0 ? 2 * std::max(limits.width, limits.height) : 0;
  limits.max_steps = RequestLimits::kMaxSteps;
  limits.schedulers = SchedulerNames();
  const bool xl = family == SdFamily::kSdxl;
  limits.default_steps = xl ? 30 : 25;
  limits.default_guidance_scale = xl ? 5.0 : 7.5;
  limits.default_scheduler = default_scheduler;
  limits.max_clip_skip = std::max(0, text_encoder_layers - 1);
  if (defaults.steps) limits.default_steps = *defaults.steps;
  if (defaults.guidance_scale) limits.default_guidance_scale = *defaults.guidance_scale;
  return limits;
}

ModelPath BuiltinNullModel() {
  return ModelPath{std::string(kNullModelName), "", ModelFormat::kNull};
}

Result<NullModelOptions> NullModelOptionsOf(const ModelPath& model) {
  if (model.path.empty()) return NullModelOptions{.name = model.name};
  const std::string file = (fs::path(model.path) / kNullModelFile).string();
  ASSIGN_OR_RETURN(std::string text, ReadTextFile(file));
  return ParseNullModelJson(text, file, model.name);
}

Result<ModelLimits> DescribeModel(const ModelPath& model) {
  switch (model.format) {
    case ModelFormat::kNull: {
      ASSIGN_OR_RETURN(NullModelOptions options, NullModelOptionsOf(model));
      return NullModelLimits(options);
    }
    case ModelFormat::kDiffusers: return DescribeDiffusers(model);
    case ModelFormat::kSingleFile: return DescribeSingleFile(model);
  }
  return InternalError("unknown model format");
}

}  // namespace stipple
