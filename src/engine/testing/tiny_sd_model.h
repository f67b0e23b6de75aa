// Test helper: the tiny random-weight Stable Diffusion 1.x model that the engine's golden tests
// use (src/engine/testdata/models/sd1-tiny, a real diffusers folder: 64x64 images, latents 8x8,
// the real CLIP tokenizer files, a few thousand parameters). Tests that need a model that runs
// the whole pipeline in milliseconds load it; its images are noise. For tests only.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "core/generation_request.h"

namespace stipple {

// The folder's absolute path.
std::string TinySdModelDir();

// A request it runs: `prompt` against the negative prompt "green", 64x64, 6 steps, guidance 3.0,
// model "sd1-tiny".
GenerationRequest TinySdRequest(std::string prompt, uint32_t seed, std::string scheduler = "ddim");

// The largest difference between two equally long byte arrays (RGB pixels), in 0..255; 256 when
// their lengths differ.
int MaxByteDifference(std::span<const uint8_t> a, std::span<const uint8_t> b);

// The largest difference between two PNGs' RGB pixels, in 0..255; 256 when either does not
// decode or their sizes differ.
int MaxPixelDifference(const std::string& png_a, const std::string& png_b);

}  // namespace stipple
