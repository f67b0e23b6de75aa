#include "engine/torch/image_inputs.h"

#include <cstdint>
#include <vector>

namespace stipple::torch_engine {

torch::Tensor ImagePixels(const RgbImage& image) {
  torch::Tensor hwc = torch::from_blob(const_cast<uint8_t*>(image.rgb.data()),
                                       {image.height, image.width, 3}, torch::kUInt8);
  // As diffusers' VaeImageProcessor: float32 / 255, then 2x − 1.
  const torch::Tensor unit = hwc.permute({2, 0, 1}).to(torch::kFloat) / 255.0;
  return unit * 2.0 - 1.0;
}

torch::Tensor MaskPixels(const RgbImage& image) {
  const int64_t pixels = static_cast<int64_t>(image.width) * image.height;
  torch::Tensor mask = torch::empty({1, image.height, image.width}, torch::kFloat);
  float* out = mask.data_ptr<float>();
  for (int64_t i = 0; i < pixels; ++i) {
    const uint8_t* p = &image.rgb[static_cast<size_t>(3 * i)];
    // PIL's RGB → L: (19595 R + 38470 G + 7471 B + 2^15) >> 16; binarized: L / 255 ≥ 0.5.
    const uint32_t luma = (19595u * p[0] + 38470u * p[1] + 7471u * p[2] + 0x8000u) >> 16;
    out[i] = luma >= 128 ? 1.0f : 0.0f;
  }
  return mask;
}

namespace {

// One row per SampleRows row from one tensor per job: row r gets per_job[job[r]].
torch::Tensor PerRow(const SampleRows& rows, const std::vector<int64_t>& job_slot,
                     const torch::Tensor& per_job) {
  std::vector<int64_t> index;
  index.reserve(rows.size());
  for (size_t r = 0; r < rows.size(); ++r) index.push_back(job_slot[rows.job[r]]);
  return per_job.index_select(0, torch::tensor(index, torch::kLong).to(per_job.device()));
}

// The latents of `pixels` (rows, 3, H, W): the VAE posterior sampled with one draw from each
// row's generator, times scaling_factor; a pixel-space model's are the pixels themselves.
torch::Tensor SampleLatents(AutoencoderKL& vae, SampleRows& rows, const torch::Tensor& pixels,
                            c10::IntArrayRef latent_shape, torch::Device device) {
  if (!vae) return pixels;
  const torch::Tensor eps = rows.Noise(latent_shape).to(device);
  const torch::ScalarType dtype = vae->parameters().front().scalar_type();
  VaePosterior posterior = vae->Encode(pixels.to(device, dtype));
  const torch::Tensor mean = posterior.mean.to(torch::kFloat);
  const torch::Tensor std = torch::exp(0.5 * posterior.logvar.to(torch::kFloat));
  return (mean + std * eps) * vae->config().scaling_factor;
}

}  // namespace

ImageStart StartFromImages(std::span<const EngineJob> jobs, SampleRows& rows, AutoencoderKL& vae,
                           const SamplingPlan& plan, c10::IntArrayRef latent_shape,
                           bool full_strength, bool nine_channel, torch::Device device) {
  // Each job's image decoded once; rows of a job share it.
  std::vector<int64_t> job_slot(jobs.size(), -1);
  std::vector<torch::Tensor> images, masks;
  for (size_t r = 0; r < rows.size(); ++r) {
    const size_t j = rows.job[r];
    if (job_slot[j] >= 0) continue;
    job_slot[j] = static_cast<int64_t>(images.size());
    images.push_back(ImagePixels(*jobs[j].init_image));
    if (jobs[j].mask_image) masks.push_back(MaskPixels(*jobs[j].mask_image));
  }
  const torch::Tensor pixels = PerRow(rows, job_slot, torch::stack(images)).to(device);
  const bool masked = !masks.empty();
  ImageStart start;
  const SchedulerStep& first = plan.steps.front();
  if (!masked) {
    torch::Tensor latents = SampleLatents(vae, rows, pixels, latent_shape, device);
    const torch::Tensor noise = rows.Noise(latent_shape).to(device);
    start.x = latents * first.renoise_x0 + noise * first.renoise_noise;
    return start;
  }
  const torch::Tensor mask = PerRow(rows, job_slot, torch::stack(masks)).to(device);
  torch::Tensor latents;
  if (!nine_channel || !full_strength) {
    latents = SampleLatents(vae, rows, pixels, latent_shape, device);
  }
  start.noise = rows.Noise(latent_shape).to(device);
  const torch::Tensor masked_latents =
      SampleLatents(vae, rows, pixels * (mask < 0.5), latent_shape, device);
  start.x = full_strength ? start.noise * plan.init_noise_scale
                          : latents * first.renoise_x0 + start.noise * first.renoise_noise;
  start.mask = vae ? torch::nn::functional::interpolate(
                         mask, torch::nn::functional::InterpolateFuncOptions()
                                   .size(std::vector<int64_t>{latent_shape[1], latent_shape[2]})
                                   .mode(torch::kNearest))
                   : mask;
  if (nine_channel) {
    start.masked_latents = masked_latents;
  } else {
    start.image_latents = latents;
  }
  if (!start.image_latents.defined()) start.noise = torch::Tensor();
  return start;
}

torch::Tensor BlendKnownRegion(const ImageStart& start, const SamplingPlan& plan, size_t done,
                               const torch::Tensor& x) {
  torch::Tensor known = start.image_latents;
  if (done + 1 < plan.steps.size()) {
    const SchedulerStep& next = plan.steps[done + 1];
    known = known * next.renoise_x0 + start.noise * next.renoise_noise;
  }
  return (1 - start.mask) * known + start.mask * x;
}

}  // namespace stipple::torch_engine
