// Pixel-space Stable Diffusion models (a diffusers folder whose model_index.json has
// "vae": [null, null]; docs/engine.md): a tiny random one written here loads through the SD path
// with its own defaults and size rule, its image is its final sample's pixels and its previews are
// the clean-image estimate; and the shipped models/shapes-32 gives diffusers' images
// (testdata/shapes-32/goldens.json, written by tools/goldens/shapes_golden.py) within 2/255.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/file.h"
#include "engine/model_files.h"
#include "engine/safetensors.h"
#include "engine/testing/tiny_sd_model.h"
#include "engine/torch/sd_loader.h"
#include "engine/torch/sd_pipeline.h"
#include "engine/torch/unet2d_condition.h"
#include "engine/torch/weights.h"
#include "engine/torch_engine.h"
#include "engine/unet2d_config.h"
#include "imaging/png.h"

namespace stipple::torch_engine {
namespace {

namespace fs = std::filesystem;

const std::string kTestdata = STIPPLE_ENGINE_TESTDATA;

constexpr const char* kPixelUNet = R"({"_class_name": "UNet2DConditionModel",
  "sample_size": 16, "in_channels": 3, "out_channels": 3, "block_out_channels": [16, 32],
  "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
  "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"], "layers_per_block": 1,
  "attention_head_dim": 2, "cross_attention_dim": 32, "norm_num_groups": 8})";

constexpr const char* kPixelIndex = R"({"_class_name": "StableDiffusionPipeline",
  "_stipple_defaults": {"steps": 6, "guidance_scale": 2.5},
  "feature_extractor": [null, null], "safety_checker": [null, null],
  "scheduler": ["diffusers", "DDIMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
  "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
  "vae": [null, null]})";

void WriteText(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// sd1-tiny's text encoder and tokenizer, a random 3-channel UNet at 16×16, DDIM with clip_sample.
fs::path WritePixelFolder() {
  const fs::path dir = fs::temp_directory_path() / ("stipple-pixel-sd-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path sd1 = TinySdModelDir();
  fs::copy(sd1 / "text_encoder", dir / "text_encoder", fs::copy_options::recursive);
  fs::copy(sd1 / "tokenizer", dir / "tokenizer", fs::copy_options::recursive);
  WriteText(dir / "model_index.json", kPixelIndex);
  WriteText(dir / "scheduler" / "scheduler_config.json",
            R"({"_class_name": "DDIMScheduler", "clip_sample": true})");
  WriteText(dir / "unet" / "config.json", kPixelUNet);
  Result<UNet2DConditionConfig> config = ParseUNet2DConditionConfig(kPixelUNet, "unet");
  EXPECT_TRUE(config.ok()) << config.status().ToString();
  torch::manual_seed(3);
  UNet2DCondition unet(*config);
  EXPECT_TRUE(WriteSafetensorsFile((dir / "unet" / "diffusion_pytorch_model.safetensors").string(),
                                   ExportWeights(*unet))
                  .ok());
  return dir;
}

GenerationRequest Request(const std::string& model, const std::string& prompt, int size, int steps,
                          double guidance, uint32_t seed) {
  GenerationRequest r;
  r.model = model;
  r.prompt = prompt;
  r.width = r.height = size;
  r.steps = steps;
  r.guidance_scale = guidance;
  r.scheduler = "ddim";
  r.seed = seed;
  return r;
}

TEST(SdPixelSpace, ATinyPixelModelRunsOnTheSdPath) {
  const fs::path dir = WritePixelFolder();
  Result<ModelPath> where = ModelAt(dir.string());
  ASSERT_TRUE(where.ok()) << where.status().ToString();
  Result<ModelLimits> described = DescribeModel(*where);
  ASSERT_TRUE(described.ok()) << described.status().ToString();
  TorchEngineOptions options;
  options.preview_every = 1;
  at::set_num_threads(2);
  Result<std::unique_ptr<SdPipeline>> loaded =
      LoadSdPipeline(*where, options, torch::kCPU, torch::kFloat);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  SdPipeline& pipeline = **loaded;
  for (const ModelLimits& limits : {*described, pipeline.limits()}) {
    EXPECT_EQ(limits.family, "sd1");
    EXPECT_EQ(limits.width, 16);
    EXPECT_EQ(limits.height, 16);
    EXPECT_EQ(limits.size_multiple, 0);
    EXPECT_TRUE(limits.AllowsSize(16, 16));
    EXPECT_FALSE(limits.AllowsSize(32, 32));  // its native size only
    EXPECT_FALSE(limits.AllowsSize(8, 8));
    EXPECT_EQ(limits.default_steps, 6);  // _stipple_defaults
    EXPECT_EQ(limits.default_guidance_scale, 2.5);
    EXPECT_EQ(limits.default_scheduler, "ddim");
  }

  // The image is the final sample's pixels; the last preview (DDIM's last clean estimate, which
  // is the last sample) is the image.
  std::vector<EngineJob> jobs = {{Request(where->name, "a red circle", 16, 4, 2.5, 5), nullptr}};
  std::vector<Status> admitted(1);
  std::vector<ProgressEvent> events;
  std::vector<Result<std::vector<GeneratedImage>>> results;
  SdPipeline::Samples samples = pipeline.Sample(
      jobs, admitted, [&](const ProgressEvent& e) { events.push_back(e); }, &results);
  ASSERT_TRUE(results[0].ok()) << results[0].status().ToString();
  ASSERT_EQ(samples.latents.sizes(), (std::vector<int64_t>{1, 3, 16, 16}));
  torch::Tensor expected =
      (samples.latents / 2 + 0.5).clamp(0, 1).mul(255).round().to(torch::kUInt8);
  EXPECT_TRUE(torch::equal(samples.pixels, expected));
  ASSERT_EQ(events.size(), 4u);
  Result<RgbImage> preview = DecodePngRgb8(events.back().preview_png);
  ASSERT_TRUE(preview.ok()) << preview.status().ToString();
  EXPECT_EQ(preview->width, 16);
  const torch::Tensor hwc = samples.pixels[0].permute({1, 2, 0}).contiguous();
  EXPECT_LE(
      MaxByteDifference(preview->rgb, {hwc.data_ptr<uint8_t>(), static_cast<size_t>(hwc.numel())}),
      1);

  // A pixel-space UNet must say its size.
  std::string config = kPixelUNet;
  config.replace(config.find("\"sample_size\": 16, "), 19, "");
  WriteText(dir / "unet" / "config.json", config);
  Result<std::unique_ptr<Engine>> unsized = TorchEngine::Load(dir.string(), options);
  EXPECT_EQ(unsized.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unsized.status().message().find("sample_size"), std::string::npos)
      << unsized.status().message();
  fs::remove_all(dir);
}

TEST(SdPixelSpace, Shapes32MatchesDiffusers) {
  const std::string model_dir = kTestdata + "/../../../models/shapes-32";
  Result<std::string> text = ReadTextFile(kTestdata + "/shapes-32/goldens.json");
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  const boost::json::object root = boost::json::parse(*text).as_object();
  Result<ModelPath> where = ModelAt(model_dir);
  ASSERT_TRUE(where.ok()) << where.status().ToString();
  TorchEngineOptions options;
  options.preview_every = 0;
  at::set_num_threads(2);
  Result<std::unique_ptr<SdPipeline>> loaded =
      LoadSdPipeline(*where, options, torch::kCPU, torch::kFloat);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  SdPipeline& pipeline = **loaded;
  const ModelLimits& limits = pipeline.limits();
  EXPECT_EQ(limits.name, "shapes-32");
  EXPECT_EQ(limits.width, 32);
  EXPECT_EQ(limits.size_multiple, 0);
  EXPECT_EQ(limits.default_steps, 20);
  EXPECT_EQ(limits.default_guidance_scale, 3.0);
  EXPECT_EQ(limits.default_scheduler, "ddim");

  const int size = static_cast<int>(root.at("width").to_number<int64_t>());
  for (const boost::json::value& v : root.at("goldens").as_array()) {
    const boost::json::object& g = v.as_object();
    const std::string prompt(g.at("prompt").as_string());
    std::vector<int32_t> ids;
    for (const boost::json::value& id : g.at("ids").as_array()) {
      ids.push_back(static_cast<int32_t>(id.to_number<int64_t>()));
    }
    EXPECT_EQ(pipeline.model().tokenizer->Encode(prompt), ids) << prompt;
    std::vector<EngineJob> jobs = {
        {Request("shapes-32", prompt, size, static_cast<int>(g.at("steps").to_number<int64_t>()),
                 g.at("guidance").to_number<double>(),
                 static_cast<uint32_t>(g.at("seed").to_number<int64_t>())),
         nullptr}};
    std::vector<Status> admitted(1);
    auto results = pipeline.Run(jobs, admitted, nullptr);
    ASSERT_TRUE(results[0].ok()) << results[0].status().ToString();
    Result<RgbImage> mine = DecodePngRgb8((*results[0])[0].png);
    Result<std::string> golden_png =
        ReadTextFile(kTestdata + "/shapes-32/" + std::string(g.at("image").as_string()));
    ASSERT_TRUE(mine.ok() && golden_png.ok());
    Result<RgbImage> golden = DecodePngRgb8(*golden_png);
    ASSERT_TRUE(golden.ok()) << golden.status().ToString();
    EXPECT_LE(MaxByteDifference(mine->rgb, golden->rgb), 2) << prompt;
  }
}

}  // namespace
}  // namespace stipple::torch_engine
