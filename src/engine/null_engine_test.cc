#include "engine/null_engine.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <vector>

#include "engine/model_files.h"
#include "imaging/png.h"

namespace stipple {
namespace {

namespace fs = std::filesystem;

GenerationRequest Request(uint32_t seed, int steps = 3) {
  GenerationRequest r;
  r.prompt = "anything";
  r.model = "null";
  r.width = 24;
  r.height = 16;
  r.steps = steps;
  r.scheduler = "euler";
  r.seed = seed;
  r.num_images = 1;
  return r;
}

TEST(NullEngine, ReturnsAPngOfTheRequestedSizeThatDependsOnlyOnTheSeed) {
  NullEngine engine({});
  GenerationRequest two = Request(7);
  two.num_images = 2;
  std::vector<EngineJob> jobs = {{Request(7)}, {two}, {Request(8)}};
  auto results = engine.Generate(jobs, {});
  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(results[1]->size(), 2u);
  EXPECT_EQ((*results[0])[0].png, (*results[1])[0].png);  // same seed, same bytes
  EXPECT_EQ((*results[1])[1].seed, 8u);                   // image i draws seed + i
  EXPECT_EQ((*results[1])[1].png, (*results[2])[0].png);
  EXPECT_NE((*results[0])[0].png, (*results[2])[0].png);
  Result<RgbImage> png = DecodePngRgb8((*results[0])[0].png);
  ASSERT_TRUE(png.ok());
  EXPECT_EQ(png->width, 24);
  EXPECT_EQ(png->height, 16);
}

TEST(NullEngine, ReportsEveryStepOfEveryJobAndRejectsWhatTheLimitsRefuse) {
  NullEngine engine({});
  GenerationRequest bad = Request(1);
  bad.width = 20;  // not a multiple of 8
  std::vector<EngineJob> jobs = {{Request(1)}, {bad}, {Request(2)}};
  std::vector<ProgressEvent> events;
  auto results = engine.Generate(jobs, [&](const ProgressEvent& e) { events.push_back(e); });
  EXPECT_TRUE(results[0].ok());
  EXPECT_EQ(results[1].status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(results[2].ok());
  ASSERT_EQ(events.size(), 6u);  // 3 steps x 2 jobs
  EXPECT_EQ(events[0].job_index, 0u);
  EXPECT_EQ(events[1].job_index, 2u);
  EXPECT_EQ(events[5].step, 3);
  EXPECT_EQ(events[5].steps, 3);
}

TEST(NullEngine, CancelledJobLeavesAndTheOthersFinish) {
  NullEngine engine({});
  CancelToken cancel;
  std::vector<EngineJob> jobs = {{Request(1, 5), &cancel}, {Request(2, 5)}};
  int seen = 0;
  auto results = engine.Generate(jobs, [&](const ProgressEvent& e) {
    if (e.job_index == 0 && ++seen == 2) cancel.Cancel();
  });
  EXPECT_EQ(results[0].status().code(), StatusCode::kCancelled);
  EXPECT_TRUE(results[1].ok());
  EXPECT_EQ(seen, 2);
}

TEST(NullEngine, WaitsTheStepDelayPerStep) {
  NullModelOptions options;
  options.step_delay = std::chrono::milliseconds(5);
  NullEngine engine(options);
  std::vector<EngineJob> jobs = {{Request(1, 4)}, {Request(2, 4)}};
  const auto start = std::chrono::steady_clock::now();
  auto results = engine.Generate(jobs, {});
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(20));
  EXPECT_TRUE(results[0].ok());
}

TEST(NullModelJson, ReadsEveryKeyAndRefusesUnknownOrBadOnes) {
  Result<NullModelOptions> o = ParseNullModelJson(
      R"({"step_delay_ms": 2.5, "width": 32, "height": 48, "default_steps": 4})", "f.json", "n");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->name, "n");
  EXPECT_EQ(o->step_delay, std::chrono::microseconds(2500));
  EXPECT_EQ(o->width, 32);
  EXPECT_EQ(o->height, 48);
  EXPECT_EQ(o->default_steps, 4);
  ModelLimits limits = NullModelLimits(*o);
  EXPECT_EQ(limits.default_steps, 4);
  EXPECT_TRUE(limits.AllowsSize(512, 512));
  EXPECT_FALSE(limits.AllowsSize(12, 16));

  EXPECT_TRUE(ParseNullModelJson("{}", "f.json", "n").ok());
  for (const char* bad : {R"({"delay": 1})", R"({"width": 30})", R"({"step_delay_ms": -1})",
                          R"({"default_steps": 0})", "[1]", "{"}) {
    Result<NullModelOptions> r = ParseNullModelJson(bad, "f.json", "n");
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("f.json"), std::string::npos) << bad;
  }
}

TEST(NullModelFiles, AFolderWithNullModelJsonIsListedAndDescribed) {
  const fs::path dir = fs::temp_directory_path() / ("stipple_null_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "noop");
  std::ofstream(dir / "noop" / "null_model.json") << R"({"width": 128, "height": 96})";
  Result<std::vector<ModelPath>> models = FindModels(dir.string());
  ASSERT_TRUE(models.ok()) << models.status().ToString();
  ASSERT_EQ(models->size(), 1u);
  EXPECT_EQ((*models)[0].name, "noop");
  EXPECT_EQ((*models)[0].format, ModelFormat::kNull);
  Result<ModelLimits> limits = DescribeModel((*models)[0]);
  ASSERT_TRUE(limits.ok());
  EXPECT_EQ(limits->name, "noop");
  EXPECT_EQ(limits->family, "null");
  EXPECT_EQ(limits->width, 128);
  EXPECT_EQ(limits->height, 96);
  fs::remove_all(dir);

  Result<ModelLimits> builtin = DescribeModel(BuiltinNullModel());
  ASSERT_TRUE(builtin.ok());
  EXPECT_EQ(builtin->name, "null");
  EXPECT_EQ(builtin->width, 64);
  EXPECT_EQ(builtin->default_steps, 1);
}

}  // namespace
}  // namespace stipple
