// The Stable Diffusion text-to-image pipeline (SD 1.x, SD 2.x, SDXL): the same computation as
// diffusers 0.27.2's StableDiffusionPipeline / StableDiffusionXLPipeline, so that image 0 of a
// task with seed s is the image diffusers gives with torch.Generator("cpu").manual_seed(s) (CPU,
// fp32). Per image:
//   1. prompt and negative prompt → 77 token ids each (BOS, the first 75 tokens, EOS, padding)
//      → the text encoder(s): SD 1.x/2.x the final layer-normed states; SDXL the penultimate
//      layer's states of both encoders, concatenated, and encoder 2's projected pooled output.
//      The request's clip_skip k moves the prompt's states k layers earlier (SD 1.x/2.x: the
//      output of layer L − k, then the final layer norm; SDXL: of layer L − 1 − k of both
//      encoders); as in diffusers, the negative prompt and the pooled output stay where they are.
//      Rows of one batch may have different clip_skip values.
//      The negative side is used only when guidance > 1 (classifier-free guidance); an empty
//      negative prompt is the embedding of "" — except on SDXL with force_zeros_for_empty_prompt,
//      where it is zeros;
//   2. latents (4, H/8, W/8) drawn from the image's own CPU generator (seeded with its seed),
//      times the scheduler's init_noise_sigma; the scheduler's noise from the same generator;
//   3. each step: the UNet on the scaled latents (the conditional and, for images with
//      guidance > 1, the unconditional half in one call; SDXL adds the pooled embedding and
//      time_ids [H, W, 0, 0, H, W]), guidance uncond + g·(cond − uncond), the scheduler's plan;
//   4. the VAE decodes latents / scaling_factor; pixels = round(clamp(x/2 + 0.5, 0, 1) · 255).
// With an init image (and a mask) it is diffusers' StableDiffusion[XL]Img2ImgPipeline
// (StableDiffusion[XL]InpaintPipeline) instead: only the last int(steps · strength) steps run,
// from the image's latents noised to the first of them; image_inputs.h says how the images are
// prepared, and 9-channel inpainting UNets get [latents, mask, masked-image latents] each step,
// 4-channel ones the known region put back after each step.
// Previews every few steps map the scheduler's clean-latent estimate to RGB without the VAE
// (latent_preview.h).
// A pixel-space model (no VAE, diffusers_folder.h) runs the same steps on the image itself:
// noise of (3, H, W), no scaling factor, step 4 is the postprocess alone, and its previews are
// the clean-image estimate's own pixels.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/generation_request.h"
#include "engine/engine.h"
#include "engine/latent_preview.h"
#include "engine/model_files.h"
#include "engine/scheduler_config.h"
#include "engine/tokenizer.h"
#include "engine/torch/autoencoder_kl.h"
#include "engine/torch/clip_text_model.h"
#include "engine/torch/text_to_image.h"
#include "engine/torch/unet2d_condition.h"

namespace stipple::torch_engine {

// One loaded Stable Diffusion model: its parts, on the pipeline's device.
struct SdModel {
  SdFamily family = SdFamily::kSd1;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<Tokenizer> tokenizer_2;  // SDXL only
  ClipTextModel text_encoder{nullptr};
  ClipTextModel text_encoder_2{nullptr};  // SDXL only
  UNet2DCondition unet{nullptr};
  AutoencoderKL vae{nullptr};  // empty for a pixel-space model
  SchedulerConfig scheduler;
  bool force_zeros_for_empty_prompt = false;  // SDXL's model_index.json
};

struct SdPipelineOptions {
  torch::Device device = torch::kCPU;
  torch::ScalarType dtype = torch::kFloat;  // the UNet's and text encoders' compute dtype
  int preview_every = 5;                    // 0: no previews
};

class SdPipeline final : public TextToImagePipeline {
 public:
  // `model`'s modules must already be on options.device in their dtypes (the VAE in fp32 when
  // its config says force_upcast).
  SdPipeline(SdModel model, ModelLimits limits, SdPipelineOptions options);

  const ModelLimits& limits() const override { return limits_; }
  const SdModel& model() const { return model_; }
  // Drops the memo of ""'s text conditions; for when the text encoders' weights change (LoRA).
  void ForgetTextMemo() {
    std::lock_guard<std::mutex> lock(empty_text_mutex_);
    empty_states_ = empty_pooled_ = torch::Tensor();
  }

  std::vector<Result<std::vector<GeneratedImage>>> Run(std::span<const EngineJob> jobs,
                                                       const std::vector<Status>& admitted,
                                                       const ProgressSink& progress) override;

  // The images that finished, before PNG encoding: row r is image index_in_job[r] of job job[r].
  struct Samples {
    std::vector<size_t> job;
    std::vector<int> index_in_job;
    std::vector<uint32_t> seed;
    torch::Tensor latents;  // (rows, 4, H/8, W/8) after the last step, fp32
    torch::Tensor pixels;   // (rows, 3, H, W) uint8, on the CPU
  };
  // Run without the encoding (what the golden tests compare): `results` gets one entry per job —
  // the status of a job that was not admitted, failed or was cancelled, an empty list otherwise.
  Samples Sample(std::span<const EngineJob> jobs, const std::vector<Status>& admitted,
                 const ProgressSink& progress,
                 std::vector<Result<std::vector<GeneratedImage>>>* results);

 private:
  struct Batch;
  struct TextConditions;

  // The text conditions of `texts` (rows in `zero` zeroed); "" at clip_skip 0 comes from a memo
  // filled on first use, the rest from one call of RunTextEncoders.
  TextConditions EncodeTexts(const std::vector<std::string>& texts, const std::vector<bool>& zero,
                             const std::vector<int>& clip_skip);
  TextConditions RunTextEncoders(const std::vector<std::string>& texts,
                                 const std::vector<int>& clip_skip);
  torch::Tensor Decode(const torch::Tensor& latents);
  void ReportProgress(int step, int steps, const Batch& batch, const torch::Tensor& x0,
                      const ProgressSink& progress);

  SdModel model_;
  ModelLimits limits_;
  SdPipelineOptions options_;
  LatentPreviewFamily preview_family_;
  // The text conditions of "" at clip_skip 0, the usual negative prompt: encoded once.
  std::mutex empty_text_mutex_;
  torch::Tensor empty_states_, empty_pooled_;
};

}  // namespace stipple::torch_engine
