// Test fixture: a tiny, randomly initialized model directory in the real format, so tests run
// the real pipeline (tokenizer, text encoder, UNet, schedulers, weights loading) in well under a
// second. Its images are noise: it is for testing the machinery, not for looking at.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "core/generation_request.h"
#include "engine/model_config.h"

namespace stipple {

// "tiny-test": 8x8 RGB (16x16 also allowed), a two-level UNet (4 and 8 channels) with
// attention, a one-layer text encoder over a 20-word vocabulary (about 16k parameters in all);
// beta_end 0.001; default 4 DDIM steps.
ModelConfig TinyModelFixtureConfig();
std::vector<std::string> TinyModelFixtureVocabulary();

// Writes model.json, vocab.txt and model.safetensors (weights drawn from `init_seed`) into `dir`,
// creating it. The same seed writes the same weights.
Status WriteTinyModelFixture(const std::string& dir, uint64_t init_seed = 1);

// A request the fixture runs: `prompt` against the negative prompt "green", 8x8, 6 steps,
// guidance 3.0.
inline GenerationRequest TinyModelFixtureRequest(std::string prompt, uint32_t seed,
                                                 std::string scheduler = "ddim") {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.negative_prompt = "green";
  r.model = "tiny-test";
  r.width = 8;
  r.height = 8;
  r.steps = 6;
  r.guidance_scale = 3.0;
  r.scheduler = std::move(scheduler);
  r.seed = seed;
  return r;
}

}  // namespace stipple
