#include "evaluator.h"

#include <gtest/gtest.h>

#include "imaging/png.h"
#include "shapes_dataset.h"
#include "shapes_rng.h"

namespace stipple::shapes {
namespace {

// Test double of the Engine (isolates the evaluator from any model): draws exactly what an eval
// prompt asks for, and for the empty prompt always a small red circle in the centre.
class PromptRenderingEngineForTest final : public Engine {
 public:
  ModelLimits limits() const override { return {.name = "shapes-test"}; }
  std::vector<Result<std::vector<GeneratedImage>>> Generate(std::span<const EngineJob> jobs,
                                                            const ProgressSink&) override {
    std::vector<Result<std::vector<GeneratedImage>>> out;
    for (const EngineJob& job : jobs) {
      ++images;
      Attributes a{Shape::kCircle, Colour::kRed, Size::kSmall, Position::kCenter};
      for (const EvalPrompt& p : EvalPrompts()) {
        if (p.text == job.request.prompt) a = p.target;
      }
      Rng rng(job.request.seed);
      Image image = Render(a, rng);
      out.push_back(
          std::vector<GeneratedImage>{{EncodePngRgb8(image.rgb, image.width, image.height).value(),
                                       image.width, image.height, job.request.seed}});
    }
    return out;
  }
  int images = 0;
};

TEST(Evaluate, AnEngineThatDrawsThePromptScoresFullMarks) {
  PromptRenderingEngineForTest engine;
  EvalOptions options;
  options.samples_per_prompt = 1;
  Result<EvalReport> report = Evaluate(engine, options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->prompted.count, 80);
  EXPECT_DOUBLE_EQ(report->prompted.all, 1.0);
  EXPECT_DOUBLE_EQ(report->novel.all, 1.0);
  EXPECT_EQ(report->samples.size(), 80u);
  EXPECT_EQ(engine.images, 160);  // the baseline doubles the work
}

TEST(Evaluate, TheBaselineScoresOnlyWhatItsFixedDrawingHappensToMatch) {
  PromptRenderingEngineForTest engine;
  EvalOptions options;
  options.samples_per_prompt = 1;
  Result<EvalReport> report = Evaluate(engine, options);
  ASSERT_TRUE(report.ok());
  int red = 0;
  for (const EvalPrompt& p : EvalPrompts()) red += p.target.colour == Colour::kRed;
  EXPECT_DOUBLE_EQ(report->unconditional.colour, red / 80.0);
  EXPECT_LT(report->unconditional.all, 0.1);
}

TEST(Evaluate, SkipsTheBaselineWhenAsked) {
  PromptRenderingEngineForTest engine;
  EvalOptions options;
  options.samples_per_prompt = 1;
  options.baseline = false;
  ASSERT_TRUE(Evaluate(engine, options).ok());
  EXPECT_EQ(engine.images, 80);
}

TEST(SampleGridPng, LaysImagesOutInRowsWithGaps) {
  std::string png = EncodePngRgb8(std::vector<uint8_t>(size_t{4} * 4 * 3, 0), 4, 4).value();
  Result<std::string> grid = SampleGridPng({png, png, png}, 2, 3);
  ASSERT_TRUE(grid.ok());
  RgbImage decoded = DecodePngRgb8(*grid).value();
  EXPECT_EQ(decoded.width, 2 * 12 + 3 * 2);
  EXPECT_EQ(decoded.height, 2 * 12 + 3 * 2);
}

}  // namespace
}  // namespace stipple::shapes
