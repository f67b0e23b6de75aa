#include "engine/torch/pipeline.h"

#include <stdexcept>
#include <string>
#include <utility>

#include "engine/png.h"
#include "engine/torch/plan_step.h"
#include "engine/torch/sample_rows.h"

namespace stipple::torch_engine {

// The images still running (SampleRows) and their per-image tensors.
struct DiffusionPipeline::Batch {
  SampleRows rows;
  torch::Tensor x, prev_x0, cond, uncond, guidance;

  void Keep(const std::vector<int64_t>& keep) {
    rows.Keep(keep, {&x, &prev_x0, &cond, &uncond, &guidance});
  }
};

DiffusionPipeline::DiffusionPipeline(ModelConfig config, DiffusionModel model,
                                     std::unique_ptr<Tokenizer> tokenizer,
                                     SchedulerConfig scheduler_config, PipelineOptions options)
    : config_(std::move(config)),
      limits_(config_.Limits()),
      model_(std::move(model)),
      tokenizer_(std::move(tokenizer)),
      scheduler_config_(std::move(scheduler_config)),
      options_(options) {}

torch::Tensor DiffusionPipeline::EncodeText(const std::vector<std::string>& texts) {
  std::vector<torch::Tensor> rows;
  for (const std::string& text : texts) {
    std::vector<int32_t> ids = tokenizer_->Encode(text);
    rows.push_back(torch::tensor(std::vector<int64_t>(ids.begin(), ids.end()), torch::kLong));
  }
  return model_->text_encoder(torch::stack(rows).to(options_.device));
}

void DiffusionPipeline::ReportProgress(int step, int steps, const Batch& batch,
                                       const torch::Tensor& x0, const ProgressSink& progress) {
  if (!progress) return;
  const bool preview = options_.preview_every > 0 && step % options_.preview_every == 0;
  for (size_t r = 0; r < batch.rows.size(); ++r) {
    if (batch.rows.index_in_job[r] != 0) continue;  // one event per job; its first image previews
    ProgressEvent event{batch.rows.job[r], step, steps, ""};
    if (preview) event.preview_png = ImagesToPng(x0.slice(0, r, r + 1)).front();
    progress(event);
  }
}

std::vector<Result<std::vector<GeneratedImage>>> DiffusionPipeline::Run(
    std::span<const EngineJob> jobs, const std::vector<Status>& admitted,
    const ProgressSink& progress) {
  std::vector<Result<std::vector<GeneratedImage>>> results;
  Samples samples = Sample(jobs, admitted, progress, &results);
  if (samples.job.empty()) return results;
  c10::InferenceMode inference;
  std::vector<std::string> pngs = ImagesToPng(samples.images);
  const int width = static_cast<int>(samples.images.size(3));
  const int height = static_cast<int>(samples.images.size(2));
  for (size_t r = 0; r < samples.job.size(); ++r) {
    results[samples.job[r]]->push_back({std::move(pngs[r]), width, height, samples.seed[r]});
  }
  return results;
}

DiffusionPipeline::Samples DiffusionPipeline::Sample(
    std::span<const EngineJob> jobs, const std::vector<Status>& admitted,
    const ProgressSink& progress, std::vector<Result<std::vector<GeneratedImage>>>* results_out) {
  std::vector<Result<std::vector<GeneratedImage>>>& results = *results_out;
  results.clear();
  const GenerationRequest* first = nullptr;
  for (size_t j = 0; j < jobs.size(); ++j) {
    if (admitted[j].ok()) {
      results.emplace_back(std::vector<GeneratedImage>{});
      if (first == nullptr) first = &jobs[j].request;
    } else {
      results.emplace_back(admitted[j]);
    }
  }
  if (first == nullptr) return {};
  const int steps = first->steps, width = first->width, height = first->height;
  Result<std::unique_ptr<Scheduler>> scheduler = MakeScheduler(first->scheduler, scheduler_config_);
  Result<SamplingPlan> plan =
      scheduler.ok() ? (*scheduler)->Plan(steps) : Result<SamplingPlan>(scheduler.status());
  if (!plan.ok()) {
    for (size_t j = 0; j < jobs.size(); ++j) {
      if (admitted[j].ok()) results[j] = plan.status();
    }
    return {};
  }

  c10::InferenceMode inference;
  const std::vector<int64_t> image_shape = {config_.channels, height, width};
  Batch batch;
  batch.rows.AddJobs(jobs, admitted);
  std::vector<std::string> texts, negative_texts;
  std::vector<float> guidance;
  for (size_t j : batch.rows.job) {
    const GenerationRequest& r = jobs[j].request;
    texts.push_back(r.prompt);
    negative_texts.push_back(r.negative_prompt);
    guidance.push_back(static_cast<float>(r.guidance_scale));
  }
  batch.x = (batch.rows.Noise(image_shape) * plan->init_noise_scale).to(options_.device);
  batch.prev_x0 = torch::zeros_like(batch.x);
  batch.guidance = torch::tensor(guidance).view({-1, 1, 1, 1}).to(options_.device);
  texts.insert(texts.end(), negative_texts.begin(), negative_texts.end());
  std::vector<torch::Tensor> text_states = EncodeText(texts).chunk(2);
  batch.cond = text_states[0];
  batch.uncond = text_states[1];

  for (int s = 0; s < steps; ++s) {
    std::vector<int64_t> keep = batch.rows.Cancelled(jobs, s, steps, results);
    if (keep.size() != batch.rows.size()) batch.Keep(keep);
    if (batch.rows.size() == 0) break;
    const SchedulerStep& step = plan->steps[s];
    torch::Tensor input = batch.x * step.input_scale;
    torch::Tensor both = model_->unet(
        torch::cat({input, input}),
        torch::full({2 * static_cast<int64_t>(batch.rows.size())}, step.timestep,
                    torch::TensorOptions().dtype(torch::kFloat).device(options_.device)),
        torch::cat({batch.cond, batch.uncond}));
    std::vector<torch::Tensor> halves = both.chunk(2);
    torch::Tensor out = halves[1] + batch.guidance * (halves[0] - halves[1]);
    PlanStepResult next = ApplyPlanStep(step, batch.x, out, batch.prev_x0, [&] {
      return batch.rows.Noise(image_shape).to(options_.device);
    });
    batch.prev_x0 = next.x0;
    batch.x = next.next;
    ReportProgress(s + 1, steps, batch, next.x0, progress);
  }

  if (batch.rows.size() == 0) return {};
  return {std::move(batch.rows.job), std::move(batch.rows.index_in_job), std::move(batch.rows.seed),
          batch.x};
}

std::vector<std::string> ImagesToPng(const torch::Tensor& images) {
  torch::Tensor rgb = images.detach().to(torch::kCPU, torch::kFloat);
  if (rgb.size(1) == 1) rgb = rgb.repeat({1, 3, 1, 1});
  rgb = rgb.slice(1, 0, 3).nan_to_num(0);
  rgb = ((rgb + 1) * 127.5).round().clamp(0, 255).to(torch::kUInt8);
  rgb = rgb.permute({0, 2, 3, 1}).contiguous();  // (B, H, W, 3)
  std::vector<std::string> out;
  const int height = static_cast<int>(rgb.size(1)), width = static_cast<int>(rgb.size(2));
  for (int64_t b = 0; b < rgb.size(0); ++b) {
    torch::Tensor image = rgb[b];
    std::span<const uint8_t> bytes(image.data_ptr<uint8_t>(), image.numel());
    Result<std::string> png = EncodePngRgb8(bytes, width, height);
    // Not expected (the size is right by construction); the engine turns this into kInternal.
    if (!png.ok()) throw std::runtime_error(png.status().ToString());
    out.push_back(std::move(png).value());
  }
  return out;
}

}  // namespace stipple::torch_engine
