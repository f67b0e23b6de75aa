// TorchEngine on the tiny random-weight SD 1.x test model (engine/testing/tiny_sd_model.h, 64x64):
// determinism, batching, cancellation, progress and previews, and loading errors.
#include "engine/torch_engine.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>

#include "engine/safetensors.h"
#include "engine/testing/tiny_sd_model.h"

namespace stipple {
namespace {

namespace fs = std::filesystem;

const std::string kTinyModel = TinySdModelDir();

class TorchEngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    TorchEngineOptions options;
    options.threads = 2;
    options.preview_every = 2;
    Result<std::unique_ptr<Engine>> engine = TorchEngine::Load(kTinyModel, options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(engine).value().release();
  }
  static void TearDownTestSuite() { delete engine_; }

  static GenerationRequest Request(std::string prompt, uint32_t seed,
                                   std::string scheduler = "ddim") {
    return TinySdRequest(std::move(prompt), seed, std::move(scheduler));
  }

  // The PNGs of one job run alone.
  static std::vector<std::string> RunAlone(const GenerationRequest& request) {
    std::vector<EngineJob> jobs = {{request, nullptr}};
    auto results = engine_->Generate(jobs, nullptr);
    EXPECT_TRUE(results.at(0).ok()) << results[0].status().ToString();
    std::vector<std::string> pngs;
    if (results[0].ok()) {
      for (const GeneratedImage& image : *results[0]) pngs.push_back(image.png);
    }
    return pngs;
  }

  static Engine* engine_;
};

Engine* TorchEngineTest::engine_ = nullptr;

TEST_F(TorchEngineTest, LimitsComeFromTheModelFolder) {
  ModelLimits limits = engine_->limits();
  EXPECT_EQ(limits.name, "sd1-tiny");
  EXPECT_EQ(limits.family, "sd1");
  EXPECT_EQ(limits.width, 64);  // the UNet's sample_size times the VAE's factor
  EXPECT_EQ(limits.height, 64);
  EXPECT_EQ(limits.size_multiple, 8);
  EXPECT_TRUE(limits.AllowsSize(88, 48));
  EXPECT_FALSE(limits.AllowsSize(60, 64));
}

TEST_F(TorchEngineTest, SameRequestGivesIdenticalPngBytesRunAfterRun) {
  for (const char* scheduler : {"ddim", "ddpm", "euler_a", "dpmpp_2m"}) {
    std::vector<std::string> first = RunAlone(Request("a red circle", 7, scheduler));
    ASSERT_EQ(first.size(), 1u);
    EXPECT_EQ(first[0].substr(1, 3), "PNG");
    EXPECT_EQ(RunAlone(Request("a red circle", 7, scheduler)), first) << scheduler;
  }
}

TEST_F(TorchEngineTest, DifferentSeedsGiveDifferentImages) {
  EXPECT_NE(RunAlone(Request("a red circle", 1)), RunAlone(Request("a red circle", 2)));
}

TEST_F(TorchEngineTest, DifferentPromptsGiveDifferentImages) {
  EXPECT_NE(RunAlone(Request("a red circle", 1)), RunAlone(Request("a blue square", 1)));
}

TEST_F(TorchEngineTest, EachJobInABatchGivesTheImageItGivesAloneWithinALevel) {
  for (const char* scheduler : {"ddim", "euler_a", "dpmpp_2m"}) {
    std::vector<GenerationRequest> requests = {
        Request("a red circle", 11, scheduler),
        Request("a big blue square at the top", 12, scheduler),
        Request("unknown words only", 13, scheduler)};
    requests[1].guidance_scale = 7.5;
    requests[2].negative_prompt = "";
    std::vector<EngineJob> jobs;
    for (const GenerationRequest& r : requests) jobs.push_back({r, nullptr});
    auto results = engine_->Generate(jobs, nullptr);
    ASSERT_EQ(results.size(), 3u);
    for (size_t j = 0; j < 3; ++j) {
      ASSERT_TRUE(results[j].ok()) << results[j].status().ToString();
      ASSERT_EQ(results[j]->size(), 1u);
      EXPECT_LE(MaxPixelDifference(results[j]->at(0).png, RunAlone(requests[j]).at(0)), 1)
          << scheduler << " job " << j;
    }
  }
}

TEST_F(TorchEngineTest, NegativePromptAndGuidanceScaleChangeTheImage) {
  GenerationRequest base = Request("a red circle", 5);
  GenerationRequest other_negative = base;
  other_negative.negative_prompt = "a blue square";
  GenerationRequest other_guidance = base;
  other_guidance.guidance_scale = 9.0;
  EXPECT_NE(RunAlone(base), RunAlone(other_negative));
  EXPECT_NE(RunAlone(base), RunAlone(other_guidance));
}

TEST_F(TorchEngineTest, ImageIOfAJobUsesSeedPlusI) {
  GenerationRequest r = Request("a red circle", 40, "euler_a");
  r.num_images = 3;
  std::vector<EngineJob> jobs = {{r, nullptr}};
  auto results = engine_->Generate(jobs, nullptr);
  ASSERT_TRUE(results[0].ok());
  ASSERT_EQ(results[0]->size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(results[0]->at(i).seed, 40 + i);
    EXPECT_EQ(results[0]->at(i).width, 64);
    EXPECT_LE(MaxPixelDifference(results[0]->at(i).png,
                                 RunAlone(Request("a red circle", 40 + i, "euler_a")).at(0)),
              1);
  }
}

TEST_F(TorchEngineTest, CancelledJobReturnsCancelledAndTheOthersKeepTheirImages) {
  std::vector<GenerationRequest> requests = {Request("a red circle", 21, "ddpm"),
                                             Request("a blue square", 22, "ddpm"),
                                             Request("a green triangle", 23, "ddpm")};
  CancelToken cancel;
  std::vector<EngineJob> jobs = {
      {requests[0], nullptr}, {requests[1], &cancel}, {requests[2], nullptr}};
  std::map<size_t, int> last_step;
  auto results = engine_->Generate(jobs, [&](const ProgressEvent& e) {
    last_step[e.job_index] = e.step;
    if (e.job_index == 1 && e.step == 2) cancel.Cancel();
  });
  ASSERT_EQ(results[1].status().code(), StatusCode::kCancelled);
  EXPECT_EQ(last_step[1], 2);
  EXPECT_EQ(last_step[0], 6);
  for (size_t j : {0u, 2u}) {
    ASSERT_TRUE(results[j].ok()) << results[j].status().ToString();
    EXPECT_LE(MaxPixelDifference(results[j]->at(0).png, RunAlone(requests[j]).at(0)), 1)
        << "job " << j;
  }
}

TEST_F(TorchEngineTest, JobCancelledBeforeTheStartGetsNoProgress) {
  CancelToken cancel;
  cancel.Cancel();
  std::vector<EngineJob> jobs = {{Request("a red circle", 1), &cancel}};
  int events = 0;
  auto results = engine_->Generate(jobs, [&](const ProgressEvent&) { ++events; });
  EXPECT_EQ(results[0].status().code(), StatusCode::kCancelled);
  EXPECT_EQ(events, 0);
}

TEST_F(TorchEngineTest, ProgressCountsEveryStepOfEveryJobWithAPreviewEveryKSteps) {
  std::vector<EngineJob> jobs = {{Request("a red circle", 1), nullptr},
                                 {Request("a blue square", 2), nullptr}};
  jobs[1].request.num_images = 2;
  std::map<size_t, std::vector<int>> steps, previews;
  engine_->Generate(jobs, [&](const ProgressEvent& e) {
    EXPECT_EQ(e.steps, 6);
    steps[e.job_index].push_back(e.step);
    if (!e.preview_png.empty()) {
      EXPECT_EQ(e.preview_png.substr(1, 3), "PNG");
      previews[e.job_index].push_back(e.step);
    }
  });
  for (size_t j : {0u, 1u}) {
    EXPECT_EQ(steps[j], (std::vector<int>{1, 2, 3, 4, 5, 6})) << j;
    EXPECT_EQ(previews[j], (std::vector<int>{2, 4, 6})) << j;
  }
}

TEST_F(TorchEngineTest, ThreadCountDoesNotChangeTheBytes) {
  TorchEngineOptions options;
  options.threads = 1;
  Result<std::unique_ptr<Engine>> one_thread = TorchEngine::Load(kTinyModel, options);
  ASSERT_TRUE(one_thread.ok()) << one_thread.status().ToString();
  std::vector<EngineJob> jobs = {{Request("a red circle", 3, "euler_a"), nullptr},
                                 {Request("a blue square", 4, "euler_a"), nullptr}};
  auto single = (*one_thread)->Generate(jobs, nullptr);
  auto multi = engine_->Generate(jobs, nullptr);  // two threads
  for (size_t j = 0; j < 2; ++j) {
    ASSERT_TRUE(single[j].ok() && multi[j].ok());
    EXPECT_EQ(single[j]->at(0).png, multi[j]->at(0).png) << j;
  }
}

TEST_F(TorchEngineTest, IncompatibleJobIsInvalidArgumentAndTheOthersRun) {
  GenerationRequest other_steps = Request("a red circle", 1);
  other_steps.steps = 3;
  GenerationRequest bad_size = Request("a red circle", 1);
  bad_size.width = 60;
  std::vector<EngineJob> jobs = {
      {Request("a red circle", 1), nullptr}, {other_steps, nullptr}, {bad_size, nullptr}};
  auto results = engine_->Generate(jobs, nullptr);
  EXPECT_TRUE(results[0].ok());
  EXPECT_EQ(results[1].status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(results[2].status().code(), StatusCode::kInvalidArgument);
}

TEST_F(TorchEngineTest, OtherAllowedSizeGivesAnImageOfThatSize) {
  GenerationRequest r = Request("a red circle", 1);
  r.width = 88;
  r.height = 48;
  std::vector<EngineJob> jobs = {{r, nullptr}};
  auto results = engine_->Generate(jobs, nullptr);
  ASSERT_TRUE(results[0].ok()) << results[0].status().ToString();
  EXPECT_EQ(results[0]->at(0).width, 88);
  EXPECT_EQ(results[0]->at(0).height, 48);
}

// Loading errors: a copy of the tiny model with one thing broken; each names the file.
class TorchEngineLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("stipple_broken_model_" + std::to_string(::getpid())))
               .string();
    fs::remove_all(dir_);
    fs::copy(kTinyModel, dir_, fs::copy_options::recursive);
    weights_ = (fs::path(dir_) / "unet" / "diffusion_pytorch_model.safetensors").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  void RewriteWeights(const std::function<void(SafetensorsFile&)>& change) {
    SafetensorsFile file = ReadSafetensorsFile(weights_).value();
    change(file);
    ASSERT_TRUE(WriteSafetensorsFile(weights_, file).ok());
  }

  Status Load() { return TorchEngine::Load(dir_).status(); }

  std::string dir_, weights_;
};

TEST_F(TorchEngineLoadTest, MissingTensorIsNamed) {
  RewriteWeights([](SafetensorsFile& f) { f.tensors.erase("conv_in.weight"); });
  Status s = Load();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("conv_in.weight"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("unet"), std::string::npos) << s.ToString();
}

TEST_F(TorchEngineLoadTest, WrongShapeIsNamed) {
  RewriteWeights([](SafetensorsFile& f) { f.tensors["conv_in.bias"] = {{5}, {1, 2, 3, 4, 5}}; });
  Status s = Load();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("conv_in.bias"), std::string::npos) << s.ToString();
}

TEST_F(TorchEngineLoadTest, UnexpectedTensorIsNamed) {
  RewriteWeights([](SafetensorsFile& f) { f.tensors["extra.weight"] = {{1}, {0}}; });
  Status s = Load();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("extra.weight"), std::string::npos) << s.ToString();
}

TEST_F(TorchEngineLoadTest, TruncatedWeightsFileIsDataLoss) {
  fs::resize_file(weights_, fs::file_size(weights_) - 100);
  Status s = Load();
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
  EXPECT_NE(s.message().find("diffusion_pytorch_model.safetensors"), std::string::npos)
      << s.ToString();
}

TEST_F(TorchEngineLoadTest, MissingWeightsFileIsNotFound) {
  fs::remove(weights_);
  Status s = Load();
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();
  EXPECT_NE(s.message().find("unet"), std::string::npos) << s.ToString();
}

TEST_F(TorchEngineLoadTest, MissingModelIndexIsNotFound) {
  fs::remove(fs::path(dir_) / "model_index.json");
  EXPECT_EQ(Load().code(), StatusCode::kNotFound);
}

TEST_F(TorchEngineLoadTest, UnknownDeviceIsInvalidArgument) {
  EXPECT_EQ(TorchEngine::Load(dir_, {.device = "tpu"}).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace stipple
