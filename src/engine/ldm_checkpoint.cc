#include "engine/ldm_checkpoint.h"

#include <algorithm>
#include <array>
#include <filesystem>

#include "engine/ldm_internal.h"

namespace stipple {
namespace {

using ldm::Drops;
using ldm::LdmError;
using ldm::Plan;
using ldm::SourceKeys;
using ldm::TensorMap;

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

const std::string kSd1Text = "cond_stage_model.transformer.";
const std::string kSd2Text = "cond_stage_model.model.";
const std::string kXlText = "conditioner.embedders.0.transformer.";
const std::string kXlText2 = "conditioner.embedders.1.model.";

// Tensors every kind of file may carry that hold nothing the engine needs: the training noise
// schedule, EMA bookkeeping, the VAE's training loss, and ComfyUI's markers (read before dropping).
constexpr std::array kDroppedNames = {"alphas_cumprod",
                                      "alphas_cumprod_prev",
                                      "betas",
                                      "log_one_minus_alphas_cumprod",
                                      "logvar",
                                      "lvlb_weights",
                                      "posterior_log_variance_clipped",
                                      "posterior_mean_coef1",
                                      "posterior_mean_coef2",
                                      "posterior_variance",
                                      "sqrt_alphas_cumprod",
                                      "sqrt_one_minus_alphas_cumprod",
                                      "sqrt_recip_alphas_cumprod",
                                      "sqrt_recipm1_alphas_cumprod",
                                      "v_pred",
                                      "ztsnr"};
constexpr std::array kDroppedPrefixes = {"model_ema.", "denoiser.", "first_stage_model.loss."};

Result<SdFamily> DetectFamily(const SourceKeys& keys) {
  if (!keys.HasPrefix("model.diffusion_model.")) {
    return keys.Error(
        "no model.diffusion_model.* tensors: not a Stable Diffusion checkpoint in the LDM layout "
        "(a LoRA, a VAE or a text encoder alone, or a diffusers-named file?)");
  }
  const bool sd1 = keys.HasPrefix(kSd1Text);
  const bool sd2 = keys.HasPrefix(kSd2Text);
  const bool xl = keys.HasPrefix(kXlText) && keys.HasPrefix(kXlText2);
  if (static_cast<int>(sd1) + static_cast<int>(sd2) + static_cast<int>(xl) > 1) {
    return keys.Error("text encoder tensors of more than one family (" + kSd1Text + ", " +
                      kSd2Text + ", conditioner.embedders.*): cannot tell which it is");
  }
  if (xl) return SdFamily::kSdxl;
  if (sd2) return SdFamily::kSd2;
  if (sd1) return SdFamily::kSd1;
  if (keys.HasPrefix("conditioner.embedders.0.model.")) {
    return keys.Error(
        "an SDXL refiner (one OpenCLIP text encoder under "
        "conditioner.embedders.0.model.*): not supported");
  }
  if (keys.HasPrefix("conditioner.embedders.")) {
    return keys.Error("conditioner.embedders.* without both SDXL text encoders (" + kXlText +
                      "*, " + kXlText2 + "*): not a supported family");
  }
  return keys.Error("no text encoder tensors (" + kSd1Text + "*, " + kSd2Text + "*, " + kXlText +
                    "*): cannot tell SD 1.x, SD 2.x or SDXL; a UNet-only file is not supported");
}

LdmOverrides Merge(const LdmOverrides& base, const LdmOverrides& over) {
  LdmOverrides out = base;
  if (over.prediction_type) out.prediction_type = over.prediction_type;
  if (over.num_heads) out.num_heads = over.num_heads;
  if (over.num_head_channels) out.num_head_channels = over.num_head_channels;
  if (over.use_linear_projection) out.use_linear_projection = over.use_linear_projection;
  if (over.context_dim) out.context_dim = over.context_dim;
  if (over.scale_factor) out.scale_factor = over.scale_factor;
  if (over.beta_start) out.beta_start = over.beta_start;
  if (over.beta_end) out.beta_end = over.beta_end;
  if (over.num_train_timesteps) out.num_train_timesteps = over.num_train_timesteps;
  return out;
}

bool IsDropped(const std::string& name, const Drops& drops) {
  for (const char* n : kDroppedNames) {
    if (name == n) return true;
  }
  for (const char* p : kDroppedPrefixes) {
    if (StartsWith(name, p)) return true;
  }
  if (std::find(drops.names.begin(), drops.names.end(), name) != drops.names.end()) return true;
  return std::any_of(drops.prefixes.begin(), drops.prefixes.end(),
                     [&](const std::string& p) { return StartsWith(name, p); });
}

// The square image size each family was trained at (SD 2.x: the 768 model predicts v, the 512
// base model ε).
int NativeSize(SdFamily family, const std::string& prediction_type) {
  if (family == SdFamily::kSdxl) return 1024;
  if (family == SdFamily::kSd2 && prediction_type == "v_prediction") return 768;
  return 512;
}

Status CheckOverrides(std::string_view source, const LdmOverrides& o) {
  if (o.prediction_type && *o.prediction_type != "epsilon" &&
      *o.prediction_type != "v_prediction") {
    return LdmError(
        source, "prediction type '" + *o.prediction_type + "': expected epsilon or v_prediction");
  }
  if (o.scale_factor && !(*o.scale_factor > 0)) {
    return LdmError(source, "scale_factor must be > 0");
  }
  if (o.beta_start && o.beta_end && !(*o.beta_start > 0 && *o.beta_start < *o.beta_end)) {
    return LdmError(source, "linear_start/linear_end must satisfy 0 < start < end");
  }
  if (o.num_train_timesteps && *o.num_train_timesteps < 1) {
    return LdmError(source, "timesteps must be >= 1");
  }
  return Status::Ok();
}

}  // namespace

Result<LdmCheckpoint> ConvertLdmCheckpoint(SafetensorsFile file, std::string_view source,
                                           const LdmOptions& options) {
  TensorMap& tensors = file.tensors;
  const SourceKeys keys(tensors, file.skipped, source);
  const LdmOverrides& o = options.overrides;
  RETURN_IF_ERROR(CheckOverrides(source, o));
  LdmCheckpoint out;
  ASSIGN_OR_RETURN(out.family, DetectFamily(keys));
  if (!keys.HasPrefix("first_stage_model.")) {
    return keys.Error(
        "no first_stage_model.* tensors: a checkpoint without its VAE is not supported");
  }

  // Text encoders first: the UNet's cross-attention and added embedding must fit them.
  Drops drops;
  Plan te{"text_encoder", {}}, te2{"text_encoder_2", {}}, vae{"vae", {}}, unet{"unet", {}};
  ldm::UNetInputs inputs;
  inputs.family = out.family;
  inputs.overrides = &o;
  switch (out.family) {
    case SdFamily::kSd1: {
      ASSIGN_OR_RETURN(out.text_encoder_config, ldm::PlanClipText(keys, kSd1Text, te, drops));
      inputs.context_dim = out.text_encoder_config.hidden_size;
      break;
    }
    case SdFamily::kSd2: {
      ASSIGN_OR_RETURN(out.text_encoder_config,
                       ldm::PlanOpenClipText(keys, kSd2Text, /*sd2=*/true, te, drops));
      inputs.context_dim = out.text_encoder_config.hidden_size;
      break;
    }
    case SdFamily::kSdxl: {
      ASSIGN_OR_RETURN(out.text_encoder_config, ldm::PlanClipText(keys, kXlText, te, drops));
      ASSIGN_OR_RETURN(LdmTextEncoderConfig second,
                       ldm::PlanOpenClipText(keys, kXlText2, /*sd2=*/false, te2, drops));
      // SDXL's cross-attention reads both encoders' penultimate states side by side.
      inputs.context_dim = out.text_encoder_config.hidden_size + second.hidden_size;
      inputs.pooled_dim = second.projection_dim;
      out.text_encoder_2_config = second;
      break;
    }
  }

  out.scheduler_config.rescale_betas_zero_snr = keys.Has("ztsnr");
  // Prediction type and native size: the override, then ComfyUI's marker, then the model-spec
  // metadata (kohya's sd-scripts and Stability write "epsilon" or "v"), then the family.
  const auto spec = file.metadata.find("modelspec.prediction_type");
  const std::string spec_type = spec == file.metadata.end() ? "" : spec->second;
  if (o.prediction_type) {
    out.prediction_type = *o.prediction_type;
  } else if (keys.Has("v_pred") || spec_type == "v" || spec_type == "v_prediction") {
    out.prediction_type = "v_prediction";
  } else if (spec_type == "epsilon" || spec_type == "eps") {
    out.prediction_type = "epsilon";
  } else {
    out.prediction_type = out.family == SdFamily::kSd2 ? "v_prediction" : "epsilon";
  }
  out.image_size = NativeSize(out.family, out.prediction_type);

  ASSIGN_OR_RETURN(out.vae_config, ldm::PlanVae(keys, vae));
  out.vae_config.sample_size = out.image_size;
  out.vae_config.scaling_factor = o.scale_factor                  ? *o.scale_factor
                                  : out.family == SdFamily::kSdxl ? 0.13025
                                                                  : 0.18215;
  inputs.sample_size = out.image_size >> (out.vae_config.block_out_channels.size() - 1);
  ASSIGN_OR_RETURN(out.unet_config, ldm::PlanUNet(keys, inputs, unet));

  const LdmUNetConfig& u = out.unet_config;
  const int latents = out.vae_config.latent_channels;
  out.inpainting = u.in_channels == 2 * latents + 1;
  if (u.out_channels != latents || (u.in_channels != latents && !out.inpainting)) {
    return keys.Error("the UNet takes " + std::to_string(u.in_channels) + " and gives " +
                      std::to_string(u.out_channels) + " channels; the VAE's latents have " +
                      std::to_string(latents) + ": not a text-to-image model");
  }
  if (out.inpainting && !options.allow_inpainting) {
    return keys.Error("an inpainting UNet (" + std::to_string(u.in_channels) +
                      " input channels: latents, mask and masked-image latents); text-to-image "
                      "generation cannot run it");
  }

  // Every tensor a part needs is there with its shape: move them.
  RETURN_IF_ERROR(ldm::ApplyPlan(te, keys, tensors, out.text_encoder.tensors));
  RETURN_IF_ERROR(ldm::ApplyPlan(te2, keys, tensors, out.text_encoder_2.tensors));
  RETURN_IF_ERROR(ldm::ApplyPlan(vae, keys, tensors, out.vae.tensors));
  RETURN_IF_ERROR(ldm::ApplyPlan(unet, keys, tensors, out.unet.tensors));

  std::vector<std::string> leftover;
  for (const auto& [name, tensor] : tensors) {
    (IsDropped(name, drops) ? out.dropped : leftover).push_back(name);
  }
  for (const auto& [name, dtype] : file.skipped) {
    if (!IsDropped(name, drops)) {
      return keys.Error("tensor " + name + " has dtype " + dtype +
                        "; model weights must be F32, F16 or BF16");
    }
    out.dropped.push_back(name);
  }
  std::sort(out.dropped.begin(), out.dropped.end());
  if (!leftover.empty()) {
    std::string list;
    for (size_t i = 0; i < leftover.size() && i < 5; ++i) list += (i ? ", " : "") + leftover[i];
    if (leftover.size() > 5) list += ", ...";
    return keys.Error(std::to_string(leftover.size()) + " tensors map to no part of a " +
                      std::string(SdFamilyName(out.family)) + " model: " + list);
  }
  tensors.clear();

  out.scheduler_config.class_name = out.family == SdFamily::kSd1   ? "PNDMScheduler"
                                    : out.family == SdFamily::kSd2 ? "DDIMScheduler"
                                                                   : "EulerDiscreteScheduler";
  out.scheduler_config.prediction_type = out.prediction_type;
  if (o.beta_start) out.scheduler_config.beta_start = *o.beta_start;
  if (o.beta_end) out.scheduler_config.beta_end = *o.beta_end;
  if (o.num_train_timesteps) out.scheduler_config.num_train_timesteps = *o.num_train_timesteps;

  out.config_json["model_index"] = ModelIndexJson(out.family, out.scheduler_config);
  out.config_json["unet"] = UNetConfigJson(out.unet_config);
  out.config_json["vae"] = VaeConfigJson(out.vae_config);
  out.config_json["text_encoder"] = TextEncoderConfigJson(out.text_encoder_config);
  if (out.text_encoder_2_config) {
    out.config_json["text_encoder_2"] = TextEncoderConfigJson(*out.text_encoder_2_config);
  }
  out.config_json["scheduler"] = SchedulerConfigJson(out.scheduler_config);
  return out;
}

Status RefusePickleCheckpoint(std::string_view path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (ext != ".ckpt" && ext != ".pt" && ext != ".pth" && ext != ".bin") return Status::Ok();
  return InvalidArgumentError(
      std::string(path) + ": a " + ext +
      " file is a Python pickle, and unpickling can run any code the file's author put in it, "
      "so stipple does not load pickles. Convert it to .safetensors once, in Python: "
      "`sd = torch.load(PATH, map_location=\"cpu\", weights_only=True); "
      "sd = sd.get(\"state_dict\", sd); "
      "safetensors.torch.save_file({k: v.contiguous() for k, v in sd.items() "
      "if isinstance(v, torch.Tensor)}, NAME.safetensors)` (weights_only=True refuses anything "
      "but tensors), or make a diffusers folder with diffusers' "
      "scripts/convert_original_stable_diffusion_to_diffusers.py --to_safetensors.");
}

Result<LdmCheckpoint> LoadLdmCheckpoint(const std::string& path, const LdmOptions& options) {
  RETURN_IF_ERROR(RefusePickleCheckpoint(path));
  ASSIGN_OR_RETURN(std::optional<LdmOverrides> yaml, ReadLdmYamlBeside(path));
  ASSIGN_OR_RETURN(
      SafetensorsFile file,
      ReadSafetensorsFile(path, SafetensorsReadOptions{.skip_other_dtypes = true,
                                                       .header_only = options.header_only}));
  LdmOptions merged = options;
  if (yaml) merged.overrides = Merge(*yaml, options.overrides);
  return ConvertLdmCheckpoint(std::move(file), path, merged);
}

}  // namespace stipple
