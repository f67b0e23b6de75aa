// Img2img and inpainting against diffusers 0.27.2: every case of testdata/models/image_goldens.json
// (tools/goldens/sd_image_goldens.py: StableDiffusion[XL]Img2ImgPipeline at strengths 0.3 to 1.0
// on each family and several schedulers; StableDiffusion[XL]InpaintPipeline on the 9-channel
// sd1-inpaint-tiny and, as masked img2img, on the 4-channel sd1-tiny and sdxl-tiny) run by
// SdPipeline::Sample, each image within 2/255 of diffusers'. Also: images of a job after the
// first and jobs batched together keep their own goldens; an inpainting UNet's limits; the shipped
// pixel-space model's img2img and masked img2img (the kept region is the init image itself).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <memory>
#include <string>

#include "common/file.h"
#include "engine/model_files.h"
#include "engine/testing/tiny_sd_model.h"
#include "engine/torch/sd_loader.h"
#include "engine/torch/sd_pipeline.h"
#include "engine/torch_engine.h"
#include "imaging/png.h"

namespace stipple::torch_engine {
namespace {

const std::string kModels = std::string(STIPPLE_ENGINE_TESTDATA) + "/models";

std::shared_ptr<const RgbImage> ReadPng(const std::string& path) {
  Result<std::string> bytes = ReadTextFile(path);
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  if (!bytes.ok()) return nullptr;
  Result<RgbImage> image = DecodePngRgb8(*bytes);
  EXPECT_TRUE(image.ok()) << image.status().ToString();
  if (!image.ok()) return nullptr;
  return std::make_shared<const RgbImage>(std::move(image).value());
}

struct ImageGolden {
  std::string model, kind, image;
  EngineJob job;
};

std::vector<ImageGolden> Goldens() {
  Result<std::string> text = ReadTextFile(kModels + "/image_goldens.json");
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  std::vector<ImageGolden> out;
  if (!text.ok()) return out;
  const boost::json::value root = boost::json::parse(*text);
  for (const boost::json::value& v : root.at("goldens").as_array()) {
    const boost::json::object& o = v.as_object();
    ImageGolden g;
    g.model = std::string(o.at("model").as_string());
    g.kind = std::string(o.at("kind").as_string());
    g.image = kModels + "/" + std::string(o.at("image").as_string());
    GenerationRequest& r = g.job.request;
    r.model = g.model;
    r.prompt = std::string(o.at("prompt").as_string());
    r.negative_prompt = std::string(o.at("negative").as_string());
    r.scheduler = std::string(o.at("scheduler").as_string());
    r.seed = static_cast<uint32_t>(o.at("seed").to_number<int64_t>());
    r.steps = static_cast<int>(o.at("steps").to_number<int64_t>());
    r.width = static_cast<int>(o.at("width").to_number<int64_t>());
    r.height = static_cast<int>(o.at("height").to_number<int64_t>());
    r.guidance_scale = o.at("guidance").to_number<double>();
    r.strength = o.at("strength").to_number<double>();
    r.init_image = ImageInput{};
    g.job.init_image = ReadPng(kModels + "/" + std::string(o.at("init").as_string()));
    if (!o.at("mask").is_null()) {
      r.mask_image = ImageInput{};
      g.job.mask_image = ReadPng(kModels + "/" + std::string(o.at("mask").as_string()));
    }
    out.push_back(std::move(g));
  }
  return out;
}

SdPipeline& Pipeline(const std::string& model) {
  static auto* pipelines = new std::map<std::string, std::unique_ptr<SdPipeline>>();
  auto it = pipelines->find(model);
  if (it == pipelines->end()) {
    at::set_num_threads(2);
    Result<ModelPath> where =
        ModelAt(model.find('/') == std::string::npos ? kModels + "/" + model : model);
    EXPECT_TRUE(where.ok()) << where.status().ToString();
    TorchEngineOptions options;
    options.preview_every = 0;
    Result<std::unique_ptr<SdPipeline>> loaded =
        LoadSdPipeline(*where, options, torch::kCPU, torch::kFloat);
    EXPECT_TRUE(loaded.ok()) << loaded.status().ToString();
    it = pipelines->emplace(model, std::move(loaded).value()).first;
  }
  return *it->second;
}

// Runs `jobs` (checked by CheckEngineJobs first, as the engine does) on `model`.
SdPipeline::Samples SampleJobs(const std::string& model, const std::vector<EngineJob>& jobs,
                               std::vector<Result<std::vector<GeneratedImage>>>* results,
                               std::vector<int>* steps_reported = nullptr) {
  SdPipeline& pipeline = Pipeline(model);
  const std::vector<Status> admitted = CheckEngineJobs(jobs, pipeline.limits());
  for (const Status& s : admitted) EXPECT_TRUE(s.ok()) << s.ToString();
  ProgressSink sink;
  if (steps_reported != nullptr) {
    sink = [steps_reported](const ProgressEvent& e) { steps_reported->push_back(e.steps); };
  }
  return pipeline.Sample(jobs, admitted, sink, results);
}

int PixelDifference(const SdPipeline::Samples& samples, int64_t row, const RgbImage& want) {
  torch::Tensor pixels = samples.pixels[row].permute({1, 2, 0}).contiguous().view({-1});
  return MaxByteDifference({pixels.data_ptr<uint8_t>(), static_cast<size_t>(pixels.numel())},
                           want.rgb);
}

TEST(SdImageInputs, EveryGoldenMatchesDiffusers) {
  const std::vector<ImageGolden> goldens = Goldens();
  ASSERT_GE(goldens.size(), 19u);
  for (const ImageGolden& g : goldens) {
    const GenerationRequest& r = g.job.request;
    SCOPED_TRACE(g.image + ": " + g.kind + " " + r.scheduler + " strength " +
                 std::to_string(r.strength) + " steps " + std::to_string(r.steps));
    std::vector<Result<std::vector<GeneratedImage>>> results;
    std::vector<int> steps;
    SdPipeline::Samples samples = SampleJobs(g.model, {g.job}, &results, &steps);
    ASSERT_TRUE(results[0].ok()) << results[0].status().ToString();
    ASSERT_EQ(samples.job.size(), 1u);
    // Only the last int(steps · strength) steps run.
    EXPECT_EQ(steps.size(), static_cast<size_t>(StepsToRun(r)));
    std::shared_ptr<const RgbImage> want = ReadPng(g.image);
    ASSERT_NE(want, nullptr);
    EXPECT_LE(PixelDifference(samples, 0, *want), 2) << "pixels (levels of 255)";
  }
}

// Image 1 of a job is diffusers' image for seed + 1; two jobs in one batch keep their images.
TEST(SdImageInputs, LaterImagesAndBatchedJobsKeepTheirGoldens) {
  const std::vector<ImageGolden> goldens = Goldens();
  std::vector<const ImageGolden*> sd1_inpaint;
  for (const ImageGolden& g : goldens) {
    if (g.model == "sd1-tiny" && g.kind == "inpaint") sd1_inpaint.push_back(&g);
  }
  ASSERT_GE(sd1_inpaint.size(), 2u);
  // Two 4-channel inpainting jobs that differ in prompt, seed and guidance but share the batch
  // key (size, steps, scheduler, strength): made compatible by giving the second the first's.
  EngineJob first = sd1_inpaint[1]->job;
  first.request.num_images = 2;
  EngineJob second = first;
  second.request.seed = first.request.seed + 5;
  second.request.prompt = "another prompt";
  second.request.num_images = 1;
  std::vector<Result<std::vector<GeneratedImage>>> results;
  SdPipeline::Samples batched = SampleJobs("sd1-tiny", {first, second}, &results);
  ASSERT_TRUE(results[0].ok() && results[1].ok());
  ASSERT_EQ(batched.job, (std::vector<size_t>{0, 0, 1}));
  std::shared_ptr<const RgbImage> want = ReadPng(sd1_inpaint[1]->image);
  EXPECT_LE(PixelDifference(batched, 0, *want), 2);
  for (size_t job = 0; job < 2; ++job) {
    // Each later row equals the same request run alone with its own seed as image 0.
    EngineJob alone = job == 0 ? first : second;
    alone.request.num_images = 1;
    if (job == 0) alone.request.seed += 1;
    std::vector<Result<std::vector<GeneratedImage>>> alone_results;
    SdPipeline::Samples single = SampleJobs("sd1-tiny", {alone}, &alone_results);
    ASSERT_TRUE(alone_results[0].ok());
    torch::Tensor a = batched.pixels[job == 0 ? 1 : 2].to(torch::kInt);
    torch::Tensor b = single.pixels[0].to(torch::kInt);
    EXPECT_LE((a - b).abs().max().item<int>(), 1) << "row of job " << job;
  }
}

TEST(SdImageInputs, AnInpaintingUNetLoadsWithItsLimits) {
  EXPECT_TRUE(Pipeline("sd1-inpaint-tiny").limits().inpainting);
  EXPECT_FALSE(Pipeline("sd1-tiny").limits().inpainting);
  // The gateway's description (configs only) agrees.
  Result<ModelLimits> described = DescribeModel(ModelAt(kModels + "/sd1-inpaint-tiny").value());
  ASSERT_TRUE(described.ok()) << described.status().ToString();
  EXPECT_TRUE(described->inpainting);
  // CheckEngineJobs then requires an init image and a mask.
  GenerationRequest r;
  r.model = "sd1-inpaint-tiny";
  r.width = r.height = 64;
  r.steps = 4;
  r.scheduler = "ddim";
  const std::vector<Status> refused =
      CheckEngineJobs(std::vector<EngineJob>{{r, nullptr}}, Pipeline("sd1-inpaint-tiny").limits());
  EXPECT_EQ(refused[0].code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused[0].message().find("mask_image"), std::string::npos) << refused[0].message();
}

// The shipped pixel-space model: img2img runs the last int(steps · strength) steps from the
// image; with a mask the kept region comes back as the init image's own pixels.
TEST(SdImageInputs, PixelSpaceImg2ImgAndMaskedImg2Img) {
  const std::string model = kModels + "/../../../../models/shapes-32";
  auto init = std::make_shared<RgbImage>();
  init->width = init->height = 32;
  auto mask = std::make_shared<RgbImage>(*init);
  for (int y = 0; y < 32; ++y) {
    for (int x = 0; x < 32; ++x) {
      init->rgb.insert(init->rgb.end(), {static_cast<uint8_t>(8 * x), static_cast<uint8_t>(8 * y),
                                         static_cast<uint8_t>((x * y) % 256)});
      const uint8_t repaint = x >= 8 && x < 24 && y >= 8 && y < 24 ? 255 : 0;
      mask->rgb.insert(mask->rgb.end(), {repaint, repaint, repaint});
    }
  }
  EngineJob job;
  GenerationRequest& r = job.request;
  r.model = "shapes-32";
  r.prompt = "a red circle";
  r.width = r.height = 32;
  r.steps = 10;
  r.guidance_scale = 3;
  r.scheduler = "ddim";
  r.seed = 3;
  r.strength = 0.5;
  r.init_image = ImageInput{};
  job.init_image = init;
  std::vector<Result<std::vector<GeneratedImage>>> results;
  std::vector<int> steps;
  SdPipeline::Samples plain = SampleJobs(model, {job}, &results, &steps);
  ASSERT_TRUE(results[0].ok()) << results[0].status().ToString();
  EXPECT_EQ(steps.size(), 5u);
  EXPECT_GT(PixelDifference(plain, 0, *init), 2);  // it changed the image

  r.mask_image = ImageInput{};
  job.mask_image = mask;
  SdPipeline::Samples masked = SampleJobs(model, {job}, &results, &steps);
  ASSERT_TRUE(results[0].ok()) << results[0].status().ToString();
  torch::Tensor pixels = masked.pixels[0].permute({1, 2, 0}).contiguous();
  const uint8_t* got = pixels.data_ptr<uint8_t>();
  int kept_diff = 0, repainted_diff = 0;
  for (size_t i = 0; i < init->rgb.size(); ++i) {
    const int d = std::abs(int(got[i]) - int(init->rgb[i]));
    (mask->rgb[i] == 0 ? kept_diff : repainted_diff) =
        std::max(mask->rgb[i] == 0 ? kept_diff : repainted_diff, d);
  }
  EXPECT_EQ(kept_diff, 0);
  EXPECT_GT(repainted_diff, 2);
}

}  // namespace
}  // namespace stipple::torch_engine
