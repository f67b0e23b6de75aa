#include "engine/latent_preview.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace stipple {
namespace {

// The factors are facts taken from ComfyUI (github.com/comfyanonymous/ComfyUI,
// comfy/latent_formats.py at commit 040a3243468ecefd1f2802592d90458f1ce4d65f): class SD15's
// latent_rgb_factors (no bias; ComfyUI's SD 2.x models use the same latent format), and class
// SDXL's latent_rgb_factors with its latent_rgb_factors_bias. Rows are latent channels, columns
// R, G, B. (A1111's "approx cheap" preview uses an older fit for SD 1.x.)
constexpr LatentPreviewMap kStableDiffusion1Map = {
    .factors = {{{0.3512f, 0.2297f, 0.3227f},
                 {0.3250f, 0.4974f, 0.2350f},
                 {-0.2829f, 0.1762f, 0.2721f},
                 {-0.2120f, -0.2616f, -0.7177f}}},
    .bias = {0.0f, 0.0f, 0.0f},
};

constexpr LatentPreviewMap kStableDiffusionXLMap = {
    .factors = {{{0.3651f, 0.4232f, 0.4341f},
                 {-0.2533f, -0.0042f, 0.1068f},
                 {0.1076f, 0.1111f, -0.0362f},
                 {-0.3165f, -0.2492f, -0.2188f}}},
    .bias = {0.1084f, -0.0175f, -0.0011f},
};

uint8_t ToByte(float v) {
  if (!(v >= -1.0f)) v = -1.0f;  // NaN goes to black too
  if (v > 1.0f) v = 1.0f;
  return static_cast<uint8_t>(std::lround((v + 1.0f) * 127.5f));
}

}  // namespace

const LatentPreviewMap& LatentPreviewMapFor(LatentPreviewFamily family) {
  switch (family) {
    case LatentPreviewFamily::kSD1:
    case LatentPreviewFamily::kSD2: return kStableDiffusion1Map;
    case LatentPreviewFamily::kSDXL: return kStableDiffusionXLMap;
  }
  return kStableDiffusion1Map;
}

Result<LatentPreviewImage> LatentToPreviewRgb(const LatentPreviewMap& map,
                                              std::span<const float> latent, int height, int width,
                                              int scale) {
  if (height < 1 || width < 1 || scale < 1 || scale > 64) {
    return InvalidArgumentError(
        "latent preview: height and width must be positive and scale in "
        "1..64 (got " +
        std::to_string(height) + "x" + std::to_string(width) + ", scale " + std::to_string(scale) +
        ")");
  }
  const size_t plane = static_cast<size_t>(height) * width;
  if (latent.size() != 4 * plane) {
    return InvalidArgumentError("latent preview: the latent must hold 4 x " +
                                std::to_string(height) + " x " + std::to_string(width) +
                                " values, it holds " + std::to_string(latent.size()));
  }
  LatentPreviewImage image;
  image.width = width * scale;
  image.height = height * scale;
  image.rgb.resize(static_cast<size_t>(image.width) * image.height * 3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const size_t at = static_cast<size_t>(y) * width + x;
      std::array<uint8_t, 3> pixel;
      for (int c = 0; c < 3; ++c) {
        float v = map.bias[c];
        for (int k = 0; k < 4; ++k) v += latent[k * plane + at] * map.factors[k][c];
        pixel[c] = ToByte(v);
      }
      for (int dy = 0; dy < scale; ++dy) {
        uint8_t* row =
            image.rgb.data() + (static_cast<size_t>(y * scale + dy) * image.width + x * scale) * 3;
        for (int dx = 0; dx < scale; ++dx) std::copy(pixel.begin(), pixel.end(), row + dx * 3);
      }
    }
  }
  return image;
}

}  // namespace stipple
