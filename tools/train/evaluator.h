// `stipple eval`: how well a model follows prompts, measured from the pixels. Generates images
// for the fixed prompt set (EvalPrompts) through the Engine interface — the same path a served
// request takes — measures each image's shape, colour, size and position (Measure), and scores
// them against the prompt's targets. The baseline is the same seeds with an empty prompt (the
// model's unconditional samples) scored against the same targets: what "following the prompt"
// must beat. Torch-free: it runs on any Engine.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "eval_prompts.h"

namespace stipple::shapes {

struct EvalOptions {
  int steps = 20;
  std::string scheduler = "ddim";
  std::optional<double> guidance_scale;  // none: the model's default
  uint32_t seed = 1000;                  // prompt p, sample s uses seed + p * samples + s
  int samples_per_prompt = 2;
  int batch = 8;  // images per Engine::Generate call
  bool baseline = true;
  std::function<void(int done, int total)> on_progress;  // after every batch
};

struct EvalSample {
  const EvalPrompt* prompt = nullptr;
  uint32_t seed = 0;
  std::string png;
  Measurement measurement;
};

struct EvalReport {
  AttributeAccuracy prompted;       // every prompt
  AttributeAccuracy familiar;       // phrased like the training captions
  AttributeAccuracy novel;          // phrasings the captions never use
  AttributeAccuracy unconditional;  // the baseline (count 0 when not run)
  std::vector<EvalSample> samples;  // prompted, in prompt order, then sample order
  double seconds = 0;               // generation and measurement, baseline included
};

Result<EvalReport> Evaluate(Engine& engine, const EvalOptions& options);

// The PNGs (all the same size) in a grid of `columns`, each scaled up `scale`× (nearest), 2 px
// gaps — for a person to look at.
Result<std::string> SampleGridPng(const std::vector<std::string>& pngs, int columns, int scale);

}  // namespace stipple::shapes
