#include "engine/engine.h"

#include <gtest/gtest.h>

#include <vector>

namespace stipple {
namespace {

ModelLimits Limits() {
  ModelLimits limits;
  limits.name = "m";
  limits.width = limits.height = 32;
  limits.sizes = {{32, 32}, {64, 32}};
  limits.max_steps = 50;
  return limits;
}

GenerationRequest Request() {
  GenerationRequest r;
  r.prompt = "a red circle";
  r.model = "m";
  r.width = r.height = 32;
  r.steps = 20;
  r.scheduler = "ddim";
  return r;
}

std::vector<StatusCode> Codes(const std::vector<EngineJob>& jobs) {
  std::vector<StatusCode> codes;
  for (const Status& s : CheckEngineJobs(jobs, Limits())) codes.push_back(s.code());
  return codes;
}

TEST(CheckEngineJobs, JobsDifferingOnlyInPromptSeedGuidanceAndCountAreCompatible) {
  GenerationRequest other = Request();
  other.prompt = "a blue square";
  other.seed = 9;
  other.guidance_scale = 7;
  other.num_images = 3;
  EXPECT_EQ(Codes({{Request()}, {other}}), (std::vector{StatusCode::kOk, StatusCode::kOk}));
}

TEST(CheckEngineJobs, JobWithOtherStepsSizeOrSchedulerThanTheFirstIsRejected) {
  GenerationRequest steps = Request(), size = Request(), scheduler = Request();
  steps.steps = 10;
  size.width = 64;
  scheduler.scheduler = "euler_a";
  EXPECT_EQ(Codes({{Request()}, {steps}, {size}, {scheduler}}),
            (std::vector{StatusCode::kOk, StatusCode::kInvalidArgument,
                         StatusCode::kInvalidArgument, StatusCode::kInvalidArgument}));
}

TEST(CheckEngineJobs, InvalidFirstJobDoesNotSetTheBatchShape) {
  GenerationRequest bad = Request();
  bad.width = 48;  // not an allowed size
  GenerationRequest wide = Request();
  wide.width = 64;
  EXPECT_EQ(
      Codes({{bad}, {wide}, {Request()}}),
      (std::vector{StatusCode::kInvalidArgument, StatusCode::kOk, StatusCode::kInvalidArgument}));
}

TEST(CheckEngineJobs, OtherModelTooManyStepsAndUnknownSchedulerAreRejected) {
  GenerationRequest model = Request(), steps = Request(), scheduler = Request();
  model.model = "other";
  steps.steps = 51;
  scheduler.scheduler = "lms";
  EXPECT_EQ(Codes({{model}, {steps}, {scheduler}}),
            (std::vector{StatusCode::kInvalidArgument, StatusCode::kInvalidArgument,
                         StatusCode::kInvalidArgument}));
}

TEST(CancelToken, StartsClearAndStaysCancelled) {
  CancelToken token;
  EXPECT_FALSE(token.cancelled());
  token.Cancel();
  token.Cancel();
  EXPECT_TRUE(token.cancelled());
}

}  // namespace
}  // namespace stipple
