// The engine on a CUDA device, compared with the CPU: runs where a CUDA build of libtorch sees a
// GPU, and is skipped (not failed) everywhere else. The tiny random-weight SD model keeps it fast.
//
// On a GPU the kernels differ from the CPU's (cuDNN convolutions, other reduction orders), so the
// images are compared pixel by pixel within a small tolerance rather than byte for byte; the same
// request on the same device still gives the same bytes run after run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/testing/tiny_sd_model.h"
#include "engine/torch_engine.h"

namespace stipple {
namespace {

std::vector<std::string> Pngs(Engine& engine, const std::vector<GenerationRequest>& requests) {
  std::vector<EngineJob> jobs;
  for (const GenerationRequest& r : requests) jobs.push_back({r, nullptr});
  std::vector<std::string> pngs;
  for (auto& result : engine.Generate(jobs, nullptr)) {
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    if (result.ok()) pngs.push_back(result->at(0).png);
  }
  return pngs;
}

class TorchEngineCudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TinySdModelDir();
    auto cuda = TorchEngine::Load(dir_, {.device = "cuda", .threads = 2, .preview_every = 2});
    if (cuda.status().code() == StatusCode::kFailedPrecondition) {
      GTEST_SKIP() << "no CUDA device: " << cuda.status().ToString();
    }
    ASSERT_TRUE(cuda.ok()) << cuda.status().ToString();
    cuda_ = std::move(cuda).value();
    auto cpu = TorchEngine::Load(dir_, {.device = "cpu", .threads = 2, .preview_every = 2});
    ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
    cpu_ = std::move(cpu).value();
  }

  std::string dir_;
  std::unique_ptr<Engine> cuda_, cpu_;
};

TEST_F(TorchEngineCudaTest, MatchesTheCpuWithinTwoLevelsForEveryScheduler) {
  for (const char* scheduler : {"ddim", "ddpm", "euler_a", "dpmpp_2m"}) {
    std::vector<GenerationRequest> requests = {TinySdRequest("a red circle", 7, scheduler),
                                               TinySdRequest("a big blue square", 8, scheduler)};
    std::vector<std::string> gpu = Pngs(*cuda_, requests), cpu = Pngs(*cpu_, requests);
    ASSERT_EQ(gpu.size(), 2u);
    ASSERT_EQ(cpu.size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
      EXPECT_LE(MaxPixelDifference(gpu[i], cpu[i]), 2) << scheduler << " image " << i;
    }
  }
}

TEST_F(TorchEngineCudaTest, SameRequestGivesIdenticalBytesRunAfterRun) {
  std::vector<GenerationRequest> requests = {TinySdRequest("a red circle", 3, "euler_a")};
  EXPECT_EQ(Pngs(*cuda_, requests), Pngs(*cuda_, requests));
}

TEST_F(TorchEngineCudaTest, ABatchMatchesTheJobsRunAloneWithinOneLevel) {
  std::vector<GenerationRequest> requests = {TinySdRequest("a red circle", 11, "ddim"),
                                             TinySdRequest("a triangle at the top", 12, "ddim"),
                                             TinySdRequest("unknown words only", 13, "ddim")};
  std::vector<std::string> batch = Pngs(*cuda_, requests);
  ASSERT_EQ(batch.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_LE(MaxPixelDifference(batch[i], Pngs(*cuda_, {requests[i]}).at(0)), 1) << i;
  }
}

}  // namespace
}  // namespace stipple
