#include "engine/torch/sd_pipeline.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

#include "engine/schedulers.h"
#include "engine/torch/image_inputs.h"
#include "engine/torch/plan_step.h"
#include "engine/torch/sample_rows.h"
#include "imaging/png.h"

namespace stipple::torch_engine {

// What the text encoders give for a list of texts, one row each.
struct SdPipeline::TextConditions {
  torch::Tensor states;  // (n, 77, cross-attention width)
  torch::Tensor pooled;  // (n, pooled width): SDXL only
};

// The images being sampled and their per-image conditioning.
struct SdPipeline::Batch {
  SampleRows rows;
  torch::Tensor x, prev_x0;                  // fp32 latents (rows, C, h, w)
  torch::Tensor cond, uncond;                // text states, compute dtype
  torch::Tensor cond_pooled, uncond_pooled;  // SDXL
  torch::Tensor guidance;                    // (rows, 1, 1, 1) fp32
  ImageStart image;                          // img2img and inpainting (image_inputs.h)

  void Keep(const std::vector<int64_t>& keep) {
    rows.Keep(keep, {&x, &prev_x0, &cond, &uncond, &cond_pooled, &uncond_pooled, &guidance,
                     &image.image_latents, &image.noise, &image.mask, &image.masked_latents});
  }
};

namespace {

torch::Tensor TokenIds(const Tokenizer& tokenizer, const std::vector<std::string>& texts,
                       torch::Device device) {
  std::vector<torch::Tensor> rows;
  rows.reserve(texts.size());
  for (const std::string& text : texts) {
    std::vector<int32_t> ids = tokenizer.Encode(text);
    rows.push_back(torch::tensor(std::vector<int64_t>(ids.begin(), ids.end()), torch::kLong));
  }
  return torch::stack(rows).to(device);
}

// The guidance-scale embedding of guidance-distilled UNets (time_cond_proj_dim, e.g. LCM-distilled
// checkpoints): w = g - 1 scaled by 1000 through a sinusoid of `dim` channels (sin, then cos).
torch::Tensor GuidanceEmbedding(const torch::Tensor& guidance, int64_t dim) {
  const torch::Tensor w = (guidance.view({-1}) - 1) * 1000.0;
  const int64_t half = dim / 2;
  const double step = std::log(10000.0) / static_cast<double>(half - 1);
  const torch::Tensor freqs =
      torch::exp(torch::arange(half, guidance.options()) * -step).view({1, -1});
  torch::Tensor emb = w.view({-1, 1}) * freqs;
  emb = torch::cat({torch::sin(emb), torch::cos(emb)}, 1);
  if (dim % 2 == 1) emb = torch::constant_pad_nd(emb, {0, 1});
  return emb;
}

// Row r of hidden_states[size − 1 − offset − clip_skip[r]] for each r: the states clip_skip[r]
// layers before the one `offset` layers before the last.
torch::Tensor StatesAt(const ClipTextOutput& out, int offset, const std::vector<int>& clip_skip) {
  const int64_t last = static_cast<int64_t>(out.hidden_states.size()) - 1 - offset;
  for (int k : clip_skip) {
    TORCH_CHECK(k >= 0 && k <= last, "clip_skip ", k, " is beyond the text encoder's layers");
  }
  if (std::all_of(clip_skip.begin(), clip_skip.end(), [&](int k) { return k == clip_skip[0]; })) {
    return out.hidden_states[last - clip_skip[0]];
  }
  std::vector<torch::Tensor> rows;
  rows.reserve(clip_skip.size());
  for (size_t r = 0; r < clip_skip.size(); ++r) {
    rows.push_back(out.hidden_states[last - clip_skip[r]][static_cast<int64_t>(r)]);
  }
  return torch::stack(rows);
}

LatentPreviewFamily PreviewFamily(SdFamily family) {
  switch (family) {
    case SdFamily::kSd1: return LatentPreviewFamily::kSD1;
    case SdFamily::kSd2: return LatentPreviewFamily::kSD2;
    case SdFamily::kSdxl: return LatentPreviewFamily::kSDXL;
  }
  return LatentPreviewFamily::kSD1;
}

}  // namespace

SdPipeline::SdPipeline(SdModel model, ModelLimits limits, SdPipelineOptions options)
    : model_(std::move(model)),
      limits_(std::move(limits)),
      options_(options),
      preview_family_(PreviewFamily(model_.family)) {}

SdPipeline::TextConditions SdPipeline::RunTextEncoders(const std::vector<std::string>& texts,
                                                       const std::vector<int>& clip_skip) {
  TextConditions out;
  const torch::Device device = options_.device;
  const bool skips = std::any_of(clip_skip.begin(), clip_skip.end(), [](int k) { return k != 0; });
  if (model_.family != SdFamily::kSdxl) {
    // diffusers' encode_prompt: the final layer-normed states of the last layer, or of the one
    // clip_skip layers before it.
    ClipTextOutput text = model_.text_encoder(TokenIds(*model_.tokenizer, texts, device));
    out.states = skips ? model_.text_encoder->FinalLayerNorm(StatesAt(text, 0, clip_skip))
                       : text.last_hidden_state;
  } else {
    // Both encoders' penultimate states (or clip_skip layers before) side by side; the pooled,
    // projected output of the second.
    ClipTextOutput first = model_.text_encoder(TokenIds(*model_.tokenizer, texts, device));
    ClipTextOutput second = model_.text_encoder_2(TokenIds(*model_.tokenizer_2, texts, device));
    out.states = torch::cat({StatesAt(first, 1, clip_skip), StatesAt(second, 1, clip_skip)}, -1);
    out.pooled = second.text_embeds;
  }
  return out;
}

SdPipeline::TextConditions SdPipeline::EncodeTexts(const std::vector<std::string>& texts,
                                                   const std::vector<bool>& zero,
                                                   const std::vector<int>& clip_skip) {
  // "" at clip_skip 0 (every request without a negative prompt) comes from the memo; the other
  // texts go through the encoders in one call.
  std::vector<std::string> encoded;
  std::vector<int> encoded_skip;
  std::vector<int64_t> source(texts.size(), -1);  // row of `encoded`, or -1: the memo
  for (size_t r = 0; r < texts.size(); ++r) {
    if (texts[r].empty() && clip_skip[r] == 0) continue;
    source[r] = static_cast<int64_t>(encoded.size());
    encoded.push_back(texts[r]);
    encoded_skip.push_back(clip_skip[r]);
  }
  TextConditions fresh;
  if (!encoded.empty()) fresh = RunTextEncoders(encoded, encoded_skip);
  TextConditions empty;
  if (encoded.size() < texts.size()) {
    std::lock_guard<std::mutex> lock(empty_text_mutex_);
    if (!empty_states_.defined()) {
      TextConditions once = RunTextEncoders({""}, {0});
      empty_states_ = once.states;
      empty_pooled_ = once.pooled;
    }
    empty.states = empty_states_;
    empty.pooled = empty_pooled_;
  }
  TextConditions out;
  if (encoded.size() == texts.size()) {
    out = std::move(fresh);
  } else {
    std::vector<torch::Tensor> states, pooled;
    for (size_t r = 0; r < texts.size(); ++r) {
      const TextConditions& from = source[r] < 0 ? empty : fresh;
      const int64_t row = std::max<int64_t>(source[r], 0);
      states.push_back(from.states.slice(0, row, row + 1));
      if (from.pooled.defined()) pooled.push_back(from.pooled.slice(0, row, row + 1));
    }
    out.states = torch::cat(states);  // a copy: the memo is never written
    if (!pooled.empty()) out.pooled = torch::cat(pooled);
  }
  for (size_t r = 0; r < zero.size(); ++r) {
    if (!zero[r]) continue;
    out.states[static_cast<int64_t>(r)].zero_();
    if (out.pooled.defined()) out.pooled[static_cast<int64_t>(r)].zero_();
  }
  return out;
}

namespace {

// diffusers' postprocess of images in [-1, 1]: (x / 2 + 0.5).clamp(0, 1), then round(x · 255) to
// uint8 on the CPU.
torch::Tensor ToPixels(const torch::Tensor& image) {
  return (image.to(torch::kFloat) / 2 + 0.5)
      .clamp(0, 1)
      .mul(255)
      .round()
      .to(torch::kCPU, torch::kUInt8);
}

// A pixel-space model's preview: its clean-image estimate (3, H, W) itself.
LatentPreviewImage PixelPreview(const torch::Tensor& x0) {
  const torch::Tensor hwc = ToPixels(x0).permute({1, 2, 0}).contiguous();
  LatentPreviewImage out;
  out.width = static_cast<int>(hwc.size(1));
  out.height = static_cast<int>(hwc.size(0));
  out.rgb.assign(hwc.data_ptr<uint8_t>(), hwc.data_ptr<uint8_t>() + hwc.numel());
  return out;
}

}  // namespace

torch::Tensor SdPipeline::Decode(const torch::Tensor& latents) {
  if (!model_.vae) return ToPixels(latents);  // pixel space: the latents are the image
  const AutoencoderKLConfig& vae = model_.vae->config();
  return ToPixels(model_.vae->Decode(latents / vae.scaling_factor));
}

void SdPipeline::ReportProgress(int step, int steps, const Batch& batch, const torch::Tensor& x0,
                                const ProgressSink& progress) {
  if (!progress) return;
  const bool preview = options_.preview_every > 0 && step % options_.preview_every == 0;
  for (size_t r = 0; r < batch.rows.size(); ++r) {
    if (batch.rows.index_in_job[r] != 0) continue;  // one event per job; its first image previews
    ProgressEvent event{batch.rows.job[r], step, steps, ""};
    if (preview) {
      torch::Tensor latent =
          x0[static_cast<int64_t>(r)].to(torch::kCPU, torch::kFloat).contiguous();
      Result<LatentPreviewImage> rgb =
          model_.vae ? LatentToPreviewRgb(
                           LatentPreviewMapFor(preview_family_),
                           std::span<const float>(latent.data_ptr<float>(), latent.numel()),
                           static_cast<int>(latent.size(1)), static_cast<int>(latent.size(2)))
                     : Result<LatentPreviewImage>(PixelPreview(latent));
      if (rgb.ok()) {
        Result<std::string> png = EncodePngRgb8(rgb->rgb, rgb->width, rgb->height);
        if (png.ok()) event.preview_png = std::move(png).value();
      }
    }
    progress(event);
  }
}

std::vector<Result<std::vector<GeneratedImage>>> SdPipeline::Run(
    std::span<const EngineJob> jobs, const std::vector<Status>& admitted,
    const ProgressSink& progress) {
  std::vector<Result<std::vector<GeneratedImage>>> results;
  Samples samples = Sample(jobs, admitted, progress, &results);
  if (samples.job.empty()) return results;
  torch::Tensor pixels = samples.pixels.permute({0, 2, 3, 1}).contiguous();  // (B, H, W, 3)
  const int height = static_cast<int>(pixels.size(1)), width = static_cast<int>(pixels.size(2));
  for (size_t r = 0; r < samples.job.size(); ++r) {
    torch::Tensor image = pixels[static_cast<int64_t>(r)];
    Result<std::string> png = EncodePngRgb8(
        std::span<const uint8_t>(image.data_ptr<uint8_t>(), image.numel()), width, height);
    if (!png.ok()) throw std::runtime_error(png.status().ToString());
    results[samples.job[r]]->push_back({std::move(png).value(), width, height, samples.seed[r]});
  }
  return results;
}

SdPipeline::Samples SdPipeline::Sample(std::span<const EngineJob> jobs,
                                       const std::vector<Status>& admitted,
                                       const ProgressSink& progress,
                                       std::vector<Result<std::vector<GeneratedImage>>>* out) {
  std::vector<Result<std::vector<GeneratedImage>>>& results = *out;
  results.clear();
  const GenerationRequest* first = nullptr;
  for (size_t j = 0; j < jobs.size(); ++j) {
    results.emplace_back(admitted[j].ok()
                             ? Result<std::vector<GeneratedImage>>(std::vector<GeneratedImage>{})
                             : Result<std::vector<GeneratedImage>>(admitted[j]));
    if (admitted[j].ok() && first == nullptr) first = &jobs[j].request;
  }
  if (first == nullptr) return {};
  const int width = first->width, height = first->height;
  // With an init image only the last int(steps · strength) steps run (diffusers' get_timesteps);
  // CheckEngineJobs gives every job of a batch the same strength.
  const bool from_image = first->init_image.has_value();
  const int begin = from_image ? first->steps - StepsToRun(*first) : 0;
  const int steps = first->steps - begin;  // the steps this batch runs
  Result<std::unique_ptr<Scheduler>> scheduler = MakeScheduler(first->scheduler, model_.scheduler);
  Result<SamplingPlan> plan = scheduler.ok() ? (*scheduler)->PlanFrom(first->steps, begin)
                                             : Result<SamplingPlan>(scheduler.status());
  if (!plan.ok()) {
    for (size_t j = 0; j < jobs.size(); ++j) {
      if (admitted[j].ok()) results[j] = plan.status();
    }
    return {};
  }

  c10::InferenceMode inference;
  const torch::Device device = options_.device;
  const int64_t factor = model_.vae ? model_.vae->config().DownscaleFactor() : 1;
  const std::vector<int64_t> latent_shape = {model_.unet->config.out_channels, height / factor,
                                             width / factor};
  const bool nine_channel = model_.unet->config.in_channels > model_.unet->config.out_channels;
  Batch batch;
  batch.rows.AddJobs(jobs, admitted);
  std::vector<std::string> prompts, negatives;
  std::vector<bool> zero_negative;
  std::vector<int> clip_skip;
  std::vector<float> guidance;
  for (size_t r = 0; r < batch.rows.size(); ++r) {
    const GenerationRequest& request = jobs[batch.rows.job[r]].request;
    prompts.push_back(request.prompt);
    negatives.push_back(request.negative_prompt);
    zero_negative.push_back(model_.force_zeros_for_empty_prompt && request.negative_prompt.empty());
    clip_skip.push_back(request.clip_skip);
    guidance.push_back(static_cast<float>(request.guidance_scale));
  }

  // Each image's latents from its generator (encoding the prompts draws nothing, so the order
  // of the two does not matter), then the text conditions.
  if (from_image) {
    batch.image = StartFromImages(jobs, batch.rows, model_.vae, *plan, latent_shape,
                                  first->strength >= 1.0, nine_channel, device);
    batch.x = std::move(batch.image.x);
  } else {
    batch.x = (batch.rows.Noise(latent_shape) * plan->init_noise_scale).to(device);
  }
  batch.prev_x0 = torch::zeros_like(batch.x);
  batch.guidance = torch::tensor(guidance).view({-1, 1, 1, 1}).to(device);
  std::vector<std::string> texts = prompts;
  texts.insert(texts.end(), negatives.begin(), negatives.end());
  std::vector<bool> zero(prompts.size(), false);
  zero.insert(zero.end(), zero_negative.begin(), zero_negative.end());
  clip_skip.resize(texts.size(), 0);  // negative prompts: at the usual layer, as diffusers does
  TextConditions text = EncodeTexts(texts, zero, clip_skip);
  const int64_t n = static_cast<int64_t>(prompts.size());
  batch.cond = text.states.slice(0, 0, n);
  batch.uncond = text.states.slice(0, n, 2 * n);
  if (text.pooled.defined()) {
    batch.cond_pooled = text.pooled.slice(0, 0, n);
    batch.uncond_pooled = text.pooled.slice(0, n, 2 * n);
  }
  // SDXL's micro-conditioning: original size, crop origin, target size.
  const torch::Tensor time_ids =
      torch::tensor({static_cast<float>(height), static_cast<float>(width), 0.0f, 0.0f,
                     static_cast<float>(height), static_cast<float>(width)})
          .to(device, options_.dtype)
          .view({1, 6});

  const int64_t cond_dim = model_.unet->config.time_cond_proj_dim;
  // What the UNet's rows are conditioned on: the same at every step until rows leave the batch.
  std::vector<int64_t> guided;
  torch::Tensor guided_index, states, pooled;
  CrossKeysValues text_keys_values;
  for (int s = 0; s < steps; ++s) {
    std::vector<int64_t> keep = batch.rows.Cancelled(jobs, s, steps, results);
    const bool rows_changed = s == 0 || keep.size() != batch.rows.size();
    if (keep.size() != batch.rows.size()) batch.Keep(keep);
    if (batch.rows.size() == 0) break;
    const int64_t rows = static_cast<int64_t>(batch.rows.size());
    if (rows_changed) {
      // Classifier-free guidance for the rows with guidance > 1, unless the UNet takes the
      // guidance as an embedding instead (then no row runs an unconditional pass), as diffusers
      // decides. The text states' keys and values are projected here, once for all the steps.
      guided.clear();
      for (int64_t r = 0; r < rows && cond_dim == 0; ++r) {
        if (jobs[batch.rows.job[r]].request.guidance_scale > 1) guided.push_back(r);
      }
      states = batch.cond;
      pooled = batch.cond_pooled;
      if (!guided.empty()) {
        guided_index = torch::tensor(guided, torch::kLong).to(device);
        states = torch::cat({states, batch.uncond.index_select(0, guided_index)});
        if (pooled.defined()) {
          pooled = torch::cat({pooled, batch.uncond_pooled.index_select(0, guided_index)});
        }
      }
      text_keys_values = model_.unet->ProjectText(states);
    }
    const SchedulerStep& step = plan->steps[s];
    torch::Tensor input = batch.x * step.input_scale;
    if (nine_channel) {  // [scaled latents, mask, masked-image latents], as diffusers
      input = torch::cat({input, batch.image.mask, batch.image.masked_latents}, 1);
    }
    if (!guided.empty()) input = torch::cat({input, input.index_select(0, guided_index)});
    UNetAddedConditions added;
    added.text_keys_values = &text_keys_values;
    if (cond_dim > 0) {
      added.timestep_cond = GuidanceEmbedding(batch.guidance, cond_dim).to(options_.dtype);
    }
    if (model_.family == SdFamily::kSdxl) {
      added.text_embeds = pooled;
      added.time_ids = time_ids.expand({input.size(0), 6});
    }
    torch::Tensor timesteps = torch::full(
        {input.size(0)}, step.timestep, torch::TensorOptions().dtype(torch::kFloat).device(device));
    torch::Tensor output =
        model_.unet(input.to(options_.dtype), timesteps, states, added).to(torch::kFloat);
    torch::Tensor model_out = output.slice(0, 0, rows);
    if (!guided.empty()) {
      torch::Tensor uncond_out = output.slice(0, rows);
      torch::Tensor cond_out = model_out.index_select(0, guided_index);
      torch::Tensor g = batch.guidance.index_select(0, guided_index);
      model_out = model_out.index_copy(0, guided_index, uncond_out + g * (cond_out - uncond_out));
    }
    PlanStepResult next = ApplyPlanStep(step, batch.x, model_out, batch.prev_x0,
                                        [&] { return batch.rows.Noise(latent_shape).to(device); });
    batch.prev_x0 = next.x0;
    batch.x = next.next;
    if (batch.image.image_latents.defined()) {  // a 4-channel UNet inpainting: the known region
      batch.x = BlendKnownRegion(batch.image, *plan, static_cast<size_t>(s), batch.x);
    }
    ReportProgress(s + 1, steps, batch, next.x0, progress);
  }

  if (batch.rows.size() == 0) return {};
  Samples samples{std::move(batch.rows.job), std::move(batch.rows.index_in_job),
                  std::move(batch.rows.seed), batch.x, Decode(batch.x)};
  return samples;
}

}  // namespace stipple::torch_engine
