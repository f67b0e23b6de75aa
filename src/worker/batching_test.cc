#include "worker/batching.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace stipple {
namespace {

GenerationRequest Request(int width, int steps = 4, std::string scheduler = "ddim") {
  GenerationRequest r;
  r.model = "m";
  r.width = width;
  r.height = width;
  r.steps = steps;
  r.scheduler = std::move(scheduler);
  return r;
}

std::vector<std::vector<int>> Group(const std::vector<GenerationRequest>& requests, int max) {
  std::vector<int> indices;
  for (size_t i = 0; i < requests.size(); ++i) indices.push_back(static_cast<int>(i));
  return GroupCompatible(indices, max,
                         [&](int i) -> const GenerationRequest& { return requests[i]; });
}

TEST(BatchCompatible, PromptSeedAndGuidanceMayDifferButNotShapeStepsOrScheduler) {
  GenerationRequest a = Request(8);
  GenerationRequest b = a;
  b.prompt = "other";
  b.seed = 7;
  b.guidance_scale = 9;
  b.num_images = 3;
  EXPECT_TRUE(BatchCompatible(a, b));
  EXPECT_FALSE(BatchCompatible(a, Request(16)));
  EXPECT_FALSE(BatchCompatible(a, Request(8, 5)));
  EXPECT_FALSE(BatchCompatible(a, Request(8, 4, "ddpm")));
  GenerationRequest other_model = a;
  other_model.model = "n";
  EXPECT_FALSE(BatchCompatible(a, other_model));
}

TEST(GroupCompatible, IncompatibleRequestsGoToSeparateGroupsInLeaseOrder) {
  auto groups = Group({Request(8), Request(16), Request(8), Request(16, 5)}, 4);
  EXPECT_EQ(groups, (std::vector<std::vector<int>>{{0, 2}, {1}, {3}}));
}

TEST(GroupCompatible, AGroupNeverExceedsMaxBatch) {
  auto groups = Group({Request(8), Request(8), Request(8)}, 2);
  EXPECT_EQ(groups, (std::vector<std::vector<int>>{{0, 1}, {2}}));
}

TEST(ClassifyEngineError, InvalidArgumentIsPermanentInvalidModel) {
  EngineFailure f = ClassifyEngineError(InvalidArgumentError("size 9x9 is not allowed"));
  EXPECT_EQ(f.kind, FailureKind::kPermanent);
  EXPECT_EQ(f.error.code, "invalid_model");
  EXPECT_NE(f.error.message.find("size 9x9 is not allowed"), std::string::npos);
}

TEST(ClassifyEngineError, InternalAndResourceExhaustedAreTransientEngineErrors) {
  for (const Status& s : {InternalError("numerics"), ResourceExhaustedError("out of memory")}) {
    EngineFailure f = ClassifyEngineError(s);
    EXPECT_EQ(f.kind, FailureKind::kTransient) << s.ToString();
    EXPECT_EQ(f.error.code, "engine_error");
  }
}

TEST(RetryBackoff, DoublesPerAttemptUpToTheCap) {
  EXPECT_EQ(RetryBackoff(1, Millis(100), Millis(1000)), Millis(100));
  EXPECT_EQ(RetryBackoff(2, Millis(100), Millis(1000)), Millis(200));
  EXPECT_EQ(RetryBackoff(3, Millis(100), Millis(1000)), Millis(400));
  EXPECT_EQ(RetryBackoff(10, Millis(100), Millis(1000)), Millis(1000));
  EXPECT_EQ(RetryBackoff(3, Millis(0), Millis(1000)), Millis(0));
}

}  // namespace
}  // namespace stipple
