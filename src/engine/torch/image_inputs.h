// Image inputs of a Stable Diffusion batch (img2img and inpainting), prepared as diffusers 0.27.2's
// StableDiffusionImg2ImgPipeline, StableDiffusionXLImg2ImgPipeline and
// StableDiffusionInpaintPipeline prepare them, per image from that image's own generator:
//   - the init image's pixels become x = u8 / 255 · 2 − 1 (nothing else);
//   - the mask's pixels become luminance as PIL's convert("L") computes it, binarized at 0.5
//     (L ≥ 128: 1, repaint; below: 0, keep);
//   - img2img (no mask): the VAE posterior of x is *sampled* (mean + exp(logvar / 2) · ε₁, ε₁
//     drawn first), times scaling_factor = the image latents; then the noise ε₂ is drawn and the
//     start is add_noise(image latents, ε₂) at the first step that runs — also at strength 1;
//   - inpainting (a mask): the image latents are sampled as above only when the UNet has 4
//     channels or the strength is below 1; then ε₂; then the latents of the masked image
//     x · (mask < 0.5) are sampled (one more draw, whatever the UNet). At strength 1 the start is
//     ε₂ · init_noise_sigma, else add_noise as for img2img. The mask goes to latent resolution
//     nearest-neighbour (every f-th pixel).
// A pixel-space model (no VAE) takes the pixels themselves as the latents: no posterior draws,
// the mask at full resolution.
#pragma once

#include <torch/torch.h>

#include <span>
#include <vector>

#include "engine/engine.h"
#include "engine/schedulers.h"
#include "engine/torch/autoencoder_kl.h"
#include "engine/torch/sample_rows.h"

namespace stipple::torch_engine {

// (3, H, W) fp32 in [-1, 1] on the CPU: u8 / 255 · 2 − 1.
torch::Tensor ImagePixels(const RgbImage& image);
// (1, H, W) fp32 on the CPU: 1 where PIL's luminance of the pixel is ≥ 128 (repaint), else 0.
torch::Tensor MaskPixels(const RgbImage& image);

// A batch's image conditioning, one row per SampleRows row, fp32 on the pipeline's device.
struct ImageStart {
  torch::Tensor x;               // the first step's input sample
  torch::Tensor image_latents;   // the init image's latents (with a mask and a 4-channel UNet)
  torch::Tensor noise;           // ε₂ (with image_latents)
  torch::Tensor mask;            // (rows, 1, h, w) 1 = repaint; undefined without a mask
  torch::Tensor masked_latents;  // the masked image's latents (9-channel UNets only)
};

// Prepares the rows' image inputs (every job of `rows` has an init_image; all or none a mask;
// sizes already checked) for `plan`, whose first step is the first that runs. `vae` may be empty
// (pixel space); `latent_shape` is (C, h, w); `full_strength`: the strength is 1 (inpainting then
// starts from noise); `nine_channel`: the UNet takes [latents, mask, masked-image latents].
ImageStart StartFromImages(std::span<const EngineJob> jobs, SampleRows& rows, AutoencoderKL& vae,
                           const SamplingPlan& plan, c10::IntArrayRef latent_shape,
                           bool full_strength, bool nine_channel, torch::Device device);

// The 4-channel inpainting blend after step `done` of `plan` (0-based): the known region
// (mask 0) becomes the image latents noised to the next step's timestep (clean after the last
// step), the rest stays x.
torch::Tensor BlendKnownRegion(const ImageStart& start, const SamplingPlan& plan, size_t done,
                               const torch::Tensor& x);

}  // namespace stipple::torch_engine
