#include "engine/engine.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
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

TEST(CheckEngineJobs, ClipSkipUpToTheModelsLimitAndRowsMayDiffer) {
  ModelLimits limits = Limits();
  limits.max_clip_skip = 2;
  GenerationRequest skip1 = Request(), skip2 = Request(), skip3 = Request(), negative = Request();
  skip1.clip_skip = 1;
  skip2.clip_skip = 2;
  skip3.clip_skip = 3;
  negative.clip_skip = -1;
  std::vector<EngineJob> jobs = {{Request()}, {skip1}, {skip2}, {skip3}, {negative}};
  std::vector<Status> checked = CheckEngineJobs(jobs, limits);
  ASSERT_EQ(checked.size(), 5u);
  EXPECT_TRUE(checked[0].ok() && checked[1].ok() && checked[2].ok());
  EXPECT_EQ(checked[3].code(), StatusCode::kInvalidArgument);
  EXPECT_NE(checked[3].message().find("clip_skip must be 0..2"), std::string::npos);
  EXPECT_EQ(checked[4].code(), StatusCode::kInvalidArgument);

  // A model without CLIP layers (max_clip_skip 0, e.g. the null model) refuses any other value,
  // naming the field.
  std::vector<Status> refused = CheckEngineJobs(std::vector<EngineJob>{{skip1}}, Limits());
  EXPECT_EQ(refused[0].code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused[0].message().find("clip_skip 1: model 'm' has no text encoder layers"),
            std::string::npos)
      << refused[0].message();
}

// A job with a decoded init image of `width` x `height` (and a mask of the same size when
// `mask`) at `strength`.
EngineJob ImageJob(int width, int height, double strength, bool mask) {
  auto image = std::make_shared<RgbImage>();
  image->width = width;
  image->height = height;
  image->rgb.assign(static_cast<size_t>(3 * width * height), 128);
  EngineJob job{Request()};
  job.request.init_image = ImageInput{};
  job.request.strength = strength;
  job.init_image = image;
  if (mask) {
    job.request.mask_image = ImageInput{};
    job.mask_image = image;
  }
  return job;
}

TEST(CheckEngineJobs, StrengthMustRunAtLeastOneStep) {
  EXPECT_EQ(StepsToRun(ImageJob(32, 32, 0.5, false).request), 10);
  EXPECT_EQ(StepsToRun(ImageJob(32, 32, 0.33, false).request), 6);  // int(6.6)
  EXPECT_EQ(StepsToRun(ImageJob(32, 32, 1.0, false).request), 20);
  EXPECT_EQ(StepsToRun(Request()), 20);
  // 20 · 0.04 = 0.8: no step would run.
  EXPECT_EQ(Codes({ImageJob(32, 32, 0.04, false), ImageJob(32, 32, 0.05, false),
                   ImageJob(32, 32, 0, false), ImageJob(32, 32, 1.5, false)}),
            (std::vector{StatusCode::kInvalidArgument, StatusCode::kOk,
                         StatusCode::kInvalidArgument, StatusCode::kInvalidArgument}));
}

TEST(CheckEngineJobs, BatchesShareStrengthImagePresenceAndLoras) {
  EngineJob lora = ImageJob(32, 32, 0.5, false);
  lora.request.loras = {{"style", 0.5}};
  EXPECT_EQ(
      Codes({ImageJob(32, 32, 0.5, false), ImageJob(32, 32, 0.6, false),
             ImageJob(32, 32, 0.5, true), EngineJob{Request()}, lora,
             ImageJob(32, 32, 0.5, false)}),
      (std::vector{StatusCode::kOk, StatusCode::kInvalidArgument, StatusCode::kInvalidArgument,
                   StatusCode::kInvalidArgument, StatusCode::kInvalidArgument, StatusCode::kOk}));
}

TEST(CheckEngineJobs, AnInpaintingModelRequiresAnImageAndAMask) {
  ModelLimits limits = Limits();
  limits.inpainting = true;
  const std::vector<EngineJob> jobs = {EngineJob{Request()}, ImageJob(32, 32, 0.5, false),
                                       ImageJob(32, 32, 0.5, true)};
  const std::vector<Status> checked = CheckEngineJobs(jobs, limits);
  EXPECT_EQ(checked[0].code(), StatusCode::kInvalidArgument);
  EXPECT_NE(checked[0].message().find("inpainting"), std::string::npos);
  EXPECT_EQ(checked[1].code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(checked[2].ok()) << checked[2].ToString();
}

TEST(CancelToken, StartsClearAndStaysCancelled) {
  CancelToken token;
  EXPECT_FALSE(token.cancelled());
  token.Cancel();
  token.Cancel();
  EXPECT_TRUE(token.cancelled());
}

TEST(CheckEngineJobs, ImageInputsNeedTheirPixelsAtTheRequestsSize) {
  auto image = [](int w, int h) {
    auto img = std::make_shared<RgbImage>();
    img->width = w;
    img->height = h;
    img->rgb.resize(static_cast<size_t>(w) * h * 3);
    return std::shared_ptr<const RgbImage>(img);
  };
  EngineJob img2img{Request()};
  img2img.request.init_image = ImageInput{"", "abc", "image/png", 32, 32};
  img2img.request.strength = 0.5;
  img2img.init_image = image(32, 32);
  EngineJob without_pixels = img2img;
  without_pixels.init_image.reset();
  EngineJob wrong_size = img2img;
  wrong_size.init_image = image(64, 32);
  EngineJob stray_mask = img2img;
  stray_mask.mask_image = image(32, 32);
  EngineJob no_step = img2img;
  no_step.request.strength = 0.01;
  EXPECT_EQ(Codes({img2img, without_pixels, wrong_size, stray_mask, no_step}),
            (std::vector<StatusCode>{StatusCode::kOk, StatusCode::kInvalidArgument,
                                     StatusCode::kInvalidArgument, StatusCode::kInvalidArgument,
                                     StatusCode::kInvalidArgument}));
  // A text-to-image job does not join an image-to-image batch.
  EXPECT_EQ(Codes({img2img, EngineJob{Request()}}),
            (std::vector<StatusCode>{StatusCode::kOk, StatusCode::kInvalidArgument}));
}

}  // namespace
}  // namespace stipple
