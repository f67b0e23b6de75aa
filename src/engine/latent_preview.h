// Cheap previews of a Stable Diffusion latent without a VAE pass: each latent pixel's 4 channels
// go through a fixed linear map to RGB (a 4x3 matrix and a bias), so one latent pixel is one
// preview pixel. The maps are the published approximations that ComfyUI's "Latent2RGB" previewer
// uses (its comfy/latent_formats.py, classes SD15 and SDXL); they were fitted to what each
// family's VAE decodes, so they apply to the latent as the UNet sees it (scaled by the VAE's
// scaling_factor, not divided back), best to the scheduler's estimate of the clean latent.
//
// Torch-free; the caller copies one latent (4, h, w) to floats.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "common/status.h"

namespace stipple {

// The latent spaces that have a preview map. SD 1.x and SD 2.x share their VAE, and so their map.
enum class LatentPreviewFamily { kSD1, kSD2, kSDXL };

// rgb[c] = bias[c] + sum over k of latent[k] * factors[k][c], for c in R, G, B.
struct LatentPreviewMap {
  std::array<std::array<float, 3>, 4> factors;
  std::array<float, 3> bias;
};

const LatentPreviewMap& LatentPreviewMapFor(LatentPreviewFamily family);

struct LatentPreviewImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // height rows of width pixels, 3 bytes each (EncodePngRgb8's input)
};

// Maps one latent, `latent` = (4, height, width) row-major floats, to an RGB8 image of
// (height * scale) x (width * scale) pixels: each channel value v becomes
// round((clamp(v, -1, 1) + 1) * 127.5), and with scale > 1 each latent pixel is repeated into a
// scale x scale block (nearest; scale 8 gives the image's own size). kInvalidArgument when the
// sizes are not positive, scale is not in 1..64 or `latent` does not hold 4 * height * width
// values.
Result<LatentPreviewImage> LatentToPreviewRgb(const LatentPreviewMap& map,
                                              std::span<const float> latent, int height, int width,
                                              int scale = 1);

}  // namespace stipple
