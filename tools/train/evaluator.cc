#include "evaluator.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "imaging/png.h"

namespace stipple::shapes {
namespace {

struct Planned {
  const EvalPrompt* prompt;
  GenerationRequest request;
};

// Runs the requests `batch` at a time (all share size, steps and scheduler, so each call is one
// engine batch) and measures every image.
Result<std::vector<EvalSample>> Run(Engine& engine, const std::vector<Planned>& planned,
                                    const EvalOptions& options, int* done, int total) {
  std::vector<EvalSample> samples;
  for (size_t first = 0; first < planned.size(); first += static_cast<size_t>(options.batch)) {
    const size_t end = std::min(planned.size(), first + static_cast<size_t>(options.batch));
    std::vector<EngineJob> jobs;
    for (size_t i = first; i < end; ++i) jobs.push_back({planned[i].request, nullptr});
    std::vector<Result<std::vector<GeneratedImage>>> results = engine.Generate(jobs, nullptr);
    for (size_t i = first; i < end; ++i) {
      Result<std::vector<GeneratedImage>>& result = results[i - first];
      if (!result.ok()) return result.status();
      GeneratedImage& image = result->front();
      ASSIGN_OR_RETURN(RgbImage decoded, DecodePngRgb8(image.png));
      Image pixels{decoded.width, decoded.height, std::move(decoded.rgb)};
      samples.push_back({planned[i].prompt, image.seed, std::move(image.png), Measure(pixels)});
    }
    *done += static_cast<int>(end - first);
    if (options.on_progress) options.on_progress(*done, total);
  }
  return samples;
}

AttributeAccuracy ScoreSamples(const std::vector<EvalSample>& samples, int novel /* -1: all */) {
  std::vector<std::pair<Attributes, Measurement>> pairs;
  for (const EvalSample& s : samples) {
    if (novel >= 0 && s.prompt->novel_phrasing != (novel == 1)) continue;
    pairs.emplace_back(s.prompt->target, s.measurement);
  }
  return Score(pairs);
}

}  // namespace

Result<EvalReport> Evaluate(Engine& engine, const EvalOptions& options) {
  if (options.samples_per_prompt < 1 || options.batch < 1) {
    return InvalidArgumentError("eval: samples per prompt and batch must be at least 1");
  }
  const auto start = std::chrono::steady_clock::now();
  const ModelLimits limits = engine.limits();
  GenerationRequest base;
  base.model = limits.name;
  base.width = limits.width;
  base.height = limits.height;
  base.steps = options.steps;
  base.scheduler = options.scheduler;
  base.guidance_scale = options.guidance_scale.value_or(limits.default_guidance_scale);

  std::vector<Planned> prompted, unconditional;
  uint32_t seed = options.seed;
  for (const EvalPrompt& prompt : EvalPrompts()) {
    for (int s = 0; s < options.samples_per_prompt; ++s) {
      GenerationRequest r = base;
      r.prompt = std::string(prompt.text);
      r.seed = seed++;
      prompted.push_back({&prompt, r});
      r.prompt.clear();  // the empty prompt: the model's unconditional distribution
      unconditional.push_back({&prompt, std::move(r)});
    }
  }
  const int total = static_cast<int>(prompted.size() * (options.baseline ? 2 : 1));
  int done = 0;
  EvalReport report;
  ASSIGN_OR_RETURN(report.samples, Run(engine, prompted, options, &done, total));
  report.prompted = ScoreSamples(report.samples, -1);
  report.familiar = ScoreSamples(report.samples, 0);
  report.novel = ScoreSamples(report.samples, 1);
  if (options.baseline) {
    ASSIGN_OR_RETURN(std::vector<EvalSample> baseline,
                     Run(engine, unconditional, options, &done, total));
    report.unconditional = ScoreSamples(baseline, -1);
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

Result<std::string> SampleGridPng(const std::vector<std::string>& pngs, int columns, int scale) {
  if (pngs.empty() || columns < 1 || scale < 1) {
    return InvalidArgumentError("grid: need images, columns ≥ 1 and scale ≥ 1");
  }
  std::vector<RgbImage> images;
  for (const std::string& png : pngs) {
    ASSIGN_OR_RETURN(RgbImage image, DecodePngRgb8(png));
    if (!images.empty() && (image.width != images[0].width || image.height != images[0].height)) {
      return InvalidArgumentError("grid: the images differ in size");
    }
    images.push_back(std::move(image));
  }
  constexpr int kGap = 2;
  const int cell_w = images[0].width * scale, cell_h = images[0].height * scale;
  const int count = static_cast<int>(images.size());
  const int rows = (count + columns - 1) / columns;
  const int cols = std::min(columns, count);
  const int width = cols * cell_w + (cols + 1) * kGap, height = rows * cell_h + (rows + 1) * kGap;
  std::vector<uint8_t> rgb(static_cast<size_t>(width) * static_cast<size_t>(height) * 3, 255);
  for (int i = 0; i < count; ++i) {
    const int x0 = kGap + (i % columns) * (cell_w + kGap),
              y0 = kGap + (i / columns) * (cell_h + kGap);
    const RgbImage& image = images[static_cast<size_t>(i)];
    for (int y = 0; y < cell_h; ++y) {
      for (int x = 0; x < cell_w; ++x) {
        const size_t from = (static_cast<size_t>(y / scale) * image.width + x / scale) * 3;
        const size_t to = (static_cast<size_t>(y0 + y) * width + x0 + x) * 3;
        std::copy_n(image.rgb.begin() + static_cast<std::ptrdiff_t>(from), 3,
                    rgb.begin() + static_cast<std::ptrdiff_t>(to));
      }
    }
  }
  return EncodePngRgb8(rgb, width, height);
}

}  // namespace stipple::shapes
