// The text-to-image pipeline: tokenize, encode the prompts and negative prompts, draw each
// image's noise from its own seed, run the scheduler loop with classifier-free guidance (the
// conditional and unconditional halves of the whole batch in one UNet call), report progress and
// previews, honour cancellation between steps, and encode the results as PNG.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <span>
#include <vector>

#include "engine/engine.h"
#include "engine/model_config.h"
#include "engine/scheduler_config.h"
#include "engine/schedulers.h"
#include "engine/tokenizer.h"
#include "engine/torch/diffusion_model.h"
#include "engine/torch/text_to_image.h"
#include "engine/torch_engine.h"

namespace stipple::torch_engine {

struct PipelineOptions {
  torch::Device device = torch::kCPU;
  int preview_every = 5;  // 0: no previews
};

class DiffusionPipeline final : public TextToImagePipeline {
 public:
  DiffusionPipeline(ModelConfig config, DiffusionModel model, std::unique_ptr<Tokenizer> tokenizer,
                    SchedulerConfig scheduler_config, PipelineOptions options);

  const ModelConfig& config() const { return config_; }
  const ModelLimits& limits() const override { return limits_; }

  // Runs the jobs whose `admitted` status is OK (see Engine::Generate); the others get that
  // status. May throw c10::Error or std::exception (the caller turns them into a Status).
  std::vector<Result<std::vector<GeneratedImage>>> Run(std::span<const EngineJob> jobs,
                                                       const std::vector<Status>& admitted,
                                                       const ProgressSink& progress) override;

  // The images that finished, before PNG encoding: row r is image index_in_job[r] of job job[r].
  struct Samples {
    std::vector<size_t> job;
    std::vector<int> index_in_job;
    std::vector<uint32_t> seed;
    torch::Tensor images;  // (rows, C, H, W) in [-1, 1], on the pipeline's device
  };
  // Run without the encoding: `results` gets one entry per job — the status of a job that was
  // not admitted, failed or was cancelled, an empty image list otherwise. Also what parity
  // checks against other implementations compare (the PNG rounds to 1/255).
  Samples Sample(std::span<const EngineJob> jobs, const std::vector<Status>& admitted,
                 const ProgressSink& progress,
                 std::vector<Result<std::vector<GeneratedImage>>>* results);

 private:
  struct Batch;  // the running images and their per-image state (pipeline.cc)

  torch::Tensor EncodeText(const std::vector<std::string>& texts);
  void ReportProgress(int step, int steps, const Batch& batch, const torch::Tensor& x0,
                      const ProgressSink& progress);

  ModelConfig config_;
  ModelLimits limits_;
  DiffusionModel model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  SchedulerConfig scheduler_config_;
  PipelineOptions options_;
};

// Loads a model.json directory into a pipeline on `device` (what TorchEngine::Load does for that
// format before wrapping it). Errors as TorchEngine::Load; may also throw c10::Error.
Result<std::unique_ptr<DiffusionPipeline>> LoadPipeline(const std::string& model_dir,
                                                        torch::Device device, int preview_every);

// Images in [-1, 1], (B, C, H, W) → one RGB8 PNG each (values clamped; NaN as 0). Throws
// std::runtime_error if encoding fails.
std::vector<std::string> ImagesToPng(const torch::Tensor& images);

}  // namespace stipple::torch_engine
