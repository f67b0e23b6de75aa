// The Stable Diffusion families the engine runs, one type for every part that tells them apart
// (diffusers folders, single-file checkpoints, the pipeline, /v1/models).
#pragma once

#include <string_view>

namespace stipple {

enum class SdFamily { kSd1, kSd2, kSdxl };

// "sd1", "sd2", "sdxl": the name /v1/models shows.
constexpr std::string_view SdFamilyName(SdFamily family) {
  switch (family) {
    case SdFamily::kSd1: return "sd1";
    case SdFamily::kSd2: return "sd2";
    case SdFamily::kSdxl: return "sdxl";
  }
  return "sd1";
}

}  // namespace stipple
