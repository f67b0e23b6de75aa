#include "engine/testing/tiny_sd_model.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "imaging/png.h"

namespace stipple {

std::string TinySdModelDir() { return std::string(STIPPLE_ENGINE_TESTDATA) + "/models/sd1-tiny"; }

GenerationRequest TinySdRequest(std::string prompt, uint32_t seed, std::string scheduler) {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.negative_prompt = "green";
  r.model = "sd1-tiny";
  r.width = 64;
  r.height = 64;
  r.steps = 6;
  r.guidance_scale = 3.0;
  r.scheduler = std::move(scheduler);
  r.seed = seed;
  return r;
}

int MaxByteDifference(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  if (a.size() != b.size()) return 256;
  int worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, std::abs(static_cast<int>(a[i]) - static_cast<int>(b[i])));
  }
  return worst;
}

int MaxPixelDifference(const std::string& png_a, const std::string& png_b) {
  Result<RgbImage> a = DecodePngRgb8(png_a), b = DecodePngRgb8(png_b);
  if (!a.ok() || !b.ok() || a->width != b->width || a->height != b->height) return 256;
  return MaxByteDifference(a->rgb, b->rgb);
}

}  // namespace stipple
