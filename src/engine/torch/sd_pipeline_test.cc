// The Stable Diffusion pipeline against diffusers 0.27.2: every golden of the tiny zoo
// (testdata/models/goldens.json: each family × each scheduler × three cases — guidance with an
// empty negative, no guidance, a negative prompt; several sizes) and of the tiny single files
// (testdata/ldm/goldens.json: each family, a few schedulers, clip_skip 0 and 1) loaded through
// ModelAt and LoadSdPipeline and run by SdPipeline::Sample, the final latents within 1e-4
// (relative to their magnitude) and the image within 2/255 of diffusers'.
// Also: the engine contract on a real SD pipeline (a job's image does not depend on its batch;
// cancellation; progress with latent previews) and loading errors.
#include "engine/torch/sd_pipeline.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>

#include <unistd.h>

#include "common/file.h"
#include "engine/model_files.h"
#include "engine/safetensors.h"
#include "engine/testing/tiny_sd_model.h"
#include "engine/torch/sd_loader.h"
#include "engine/torch_engine.h"
#include "imaging/png.h"

namespace stipple::torch_engine {
namespace {

namespace fs = std::filesystem;

const std::string kModels = std::string(STIPPLE_ENGINE_TESTDATA) + "/models";
const std::string kSingleFiles = std::string(STIPPLE_ENGINE_TESTDATA) + "/ldm";

struct Golden {
  std::string model, scheduler, prompt, negative, image, latents;
  uint32_t seed = 0;
  int steps = 0, width = 0, height = 0, clip_skip = 0;
  double guidance = 0;
};

// The goldens of an index (goldens.json in `dir`, whose "model" names a folder or file there).
std::vector<Golden> Goldens(const std::string& dir = kModels) {
  Result<std::string> text = ReadTextFile(dir + "/goldens.json");
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  std::vector<Golden> out;
  if (!text.ok()) return out;
  const boost::json::value root = boost::json::parse(*text);
  for (const boost::json::value& v : root.at("goldens").as_array()) {
    const boost::json::object& o = v.as_object();
    Golden g;
    g.model = std::string(o.at("model").as_string());
    g.scheduler = std::string(o.at("scheduler").as_string());
    g.prompt = std::string(o.at("prompt").as_string());
    g.negative = std::string(o.at("negative").as_string());
    g.image = dir + "/" + std::string(o.at("image").as_string());
    g.latents = dir + "/" + std::string(o.at("latents").as_string());
    g.seed = static_cast<uint32_t>(o.at("seed").to_number<int64_t>());
    g.steps = static_cast<int>(o.at("steps").to_number<int64_t>());
    g.width = static_cast<int>(o.at("width").to_number<int64_t>());
    g.height = static_cast<int>(o.at("height").to_number<int64_t>());
    g.guidance = o.at("guidance").to_number<double>();
    if (const boost::json::value* skip = o.if_contains("clip_skip")) {
      g.clip_skip = static_cast<int>(skip->to_number<int64_t>());
    }
    out.push_back(std::move(g));
  }
  return out;
}

// One pipeline per model (a zoo folder's name, or a path), loaded once for the whole suite.
class SdPipelineTest : public ::testing::Test {
 protected:
  static SdPipeline& Pipeline(const std::string& model) {
    static std::map<std::string, std::unique_ptr<SdPipeline>>* pipelines =
        new std::map<std::string, std::unique_ptr<SdPipeline>>();
    auto it = pipelines->find(model);
    if (it == pipelines->end()) {
      at::set_num_threads(2);
      Result<ModelPath> where =
          ModelAt(model.find('/') == std::string::npos ? kModels + "/" + model : model);
      EXPECT_TRUE(where.ok()) << where.status().ToString();
      TorchEngineOptions options;
      options.preview_every = 1;
      Result<std::unique_ptr<SdPipeline>> loaded =
          LoadSdPipeline(*where, options, torch::kCPU, torch::kFloat);
      EXPECT_TRUE(loaded.ok()) << loaded.status().ToString();
      it = pipelines->emplace(model, std::move(loaded).value()).first;
    }
    return *it->second;
  }

  static GenerationRequest Request(const Golden& g) {
    GenerationRequest r;
    r.prompt = g.prompt;
    r.negative_prompt = g.negative;
    r.model = g.model;
    r.width = g.width;
    r.height = g.height;
    r.steps = g.steps;
    r.guidance_scale = g.guidance;
    r.scheduler = g.scheduler;
    r.clip_skip = g.clip_skip;
    r.seed = g.seed;
    return r;
  }

  // Row `row` of `samples` against golden `g`: latents within 1e-4 of their magnitude, pixels
  // within 2 levels.
  static void ExpectMatches(const Golden& g, const SdPipeline::Samples& samples, int64_t row) {
    Result<SafetensorsFile> expected = ReadSafetensorsFile(g.latents);
    ASSERT_TRUE(expected.ok()) << expected.status().ToString();
    const FloatTensor& want = expected->tensors.at("latents");
    torch::Tensor got = samples.latents[row].to(torch::kCPU).contiguous().view({-1});
    ASSERT_EQ(got.numel(), want.NumElements());
    const float* got_values = got.data_ptr<float>();
    double worst = 0, scale = 1;
    for (int64_t i = 0; i < got.numel(); ++i) {
      worst = std::max(worst, std::abs(static_cast<double>(got_values[i]) - want.values[i]));
      scale = std::max(scale, std::abs(static_cast<double>(want.values[i])));
    }
    // Relative to the latents' magnitude (σ-space samples reach ~15): float32 sums in another
    // order than diffusers' differ in the last bits, a few steps amplify that.
    EXPECT_LE(worst / scale, 1e-4) << "final latents, worst " << worst << " of " << scale;

    Result<std::string> png = ReadTextFile(g.image);
    ASSERT_TRUE(png.ok());
    Result<RgbImage> image = DecodePngRgb8(*png);
    ASSERT_TRUE(image.ok());
    ASSERT_EQ(image->width, g.width);
    ASSERT_EQ(image->height, g.height);
    torch::Tensor pixels = samples.pixels[row].permute({1, 2, 0}).contiguous().view({-1});
    EXPECT_LE(MaxByteDifference({pixels.data_ptr<uint8_t>(), static_cast<size_t>(pixels.numel())},
                                image->rgb),
              2)
        << "pixels (levels of 255)";
  }

  static void ExpectEveryGoldenMatches(const std::vector<Golden>& goldens,
                                       const std::string& root) {
    for (const Golden& g : goldens) {
      SCOPED_TRACE(g.model + " " + g.scheduler + " " + std::to_string(g.width) + "x" +
                   std::to_string(g.height) + " guidance " + std::to_string(g.guidance) +
                   " clip_skip " + std::to_string(g.clip_skip));
      SdPipeline& pipeline = Pipeline(root == kModels ? g.model : root + "/" + g.model);
      std::vector<EngineJob> jobs = {{Request(g), nullptr}};
      std::vector<Status> admitted(1);
      std::vector<Result<std::vector<GeneratedImage>>> results;
      SdPipeline::Samples samples = pipeline.Sample(jobs, admitted, nullptr, &results);
      ASSERT_TRUE(results[0].ok()) << results[0].status().ToString();
      ASSERT_EQ(samples.job.size(), 1u);
      ExpectMatches(g, samples, 0);
    }
  }
};

TEST_F(SdPipelineTest, EveryGoldenMatchesDiffusers) {
  const std::vector<Golden> goldens = Goldens();
  ASSERT_GE(goldens.size(), 54u);
  ExpectEveryGoldenMatches(goldens, kModels);
}

// A single file of each family loads through the normal path (ModelAt → LoadSdPipeline, CLIP's
// built-in vocabulary, the family's conventions) and gives diffusers' images, clip_skip included.
TEST_F(SdPipelineTest, EverySingleFileGoldenMatchesDiffusers) {
  const std::vector<Golden> goldens = Goldens(kSingleFiles);
  ASSERT_EQ(goldens.size(), 9u);
  std::set<std::string> families, skipped;
  for (const Golden& g : goldens) {
    families.insert(g.model);
    if (g.clip_skip > 0) skipped.insert(g.model);
  }
  EXPECT_EQ(families.size(), 3u);
  EXPECT_EQ(skipped.size(), 3u);  // each family has a clip_skip case
  ExpectEveryGoldenMatches(goldens, kSingleFiles);
  EXPECT_EQ(Pipeline(kSingleFiles + "/sd1.safetensors").limits().max_clip_skip, 1);
  EXPECT_EQ(Pipeline(kSingleFiles + "/sdxl.safetensors").limits().max_clip_skip, 1);
}

// Rows of one batch with different clip_skip values each get their own golden.
TEST_F(SdPipelineTest, RowsOfOneBatchMayHaveDifferentClipSkips) {
  std::vector<Golden> sd1;
  for (const Golden& g : Goldens(kSingleFiles)) {
    if (g.model == "sd1.safetensors" && g.scheduler == "ddim") sd1.push_back(g);
  }
  ASSERT_EQ(sd1.size(), 2u);
  ASSERT_NE(sd1[0].clip_skip, sd1[1].clip_skip);
  SdPipeline& pipeline = Pipeline(kSingleFiles + "/sd1.safetensors");
  std::vector<EngineJob> jobs = {{Request(sd1[1]), nullptr}, {Request(sd1[0]), nullptr}};
  std::vector<Status> admitted(2);
  std::vector<Result<std::vector<GeneratedImage>>> results;
  SdPipeline::Samples samples = pipeline.Sample(jobs, admitted, nullptr, &results);
  ASSERT_TRUE(results[0].ok() && results[1].ok());
  ASSERT_EQ(samples.job, (std::vector<size_t>{0, 1}));
  ExpectMatches(sd1[1], samples, 0);
  ExpectMatches(sd1[0], samples, 1);
}

TEST_F(SdPipelineTest, AJobsImageDoesNotDependOnItsBatchAndProgressHasPreviews) {
  SdPipeline& pipeline = Pipeline("sdxl-tiny");
  GenerationRequest a;
  a.prompt = "a red apple";
  a.model = "sdxl-tiny";
  a.width = 32;
  a.height = 32;
  a.steps = 3;
  a.guidance_scale = 5;
  a.scheduler = "euler_a";
  a.seed = 11;
  GenerationRequest b = a;
  b.prompt = "a green pear";
  b.negative_prompt = "blurry";
  b.guidance_scale = 1;  // no guidance: shares the batch with a guided job
  b.seed = 12;
  b.num_images = 2;
  std::vector<Status> one(1), two(2);
  std::vector<Result<std::vector<GeneratedImage>>> results;
  std::vector<EngineJob> alone = {{a, nullptr}};
  std::vector<ProgressEvent> events;
  auto sink = [&](const ProgressEvent& e) { events.push_back(e); };
  std::vector<Result<std::vector<GeneratedImage>>> solo = pipeline.Run(alone, one, sink);
  ASSERT_TRUE(solo[0].ok()) << solo[0].status().ToString();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events.back().step, 3);
  EXPECT_EQ(events.back().preview_png.substr(1, 3), "PNG");

  std::vector<EngineJob> both = {{b, nullptr}, {a, nullptr}};
  std::vector<Result<std::vector<GeneratedImage>>> batch = pipeline.Run(both, two, nullptr);
  ASSERT_TRUE(batch[0].ok() && batch[1].ok());
  ASSERT_EQ(batch[0]->size(), 2u);
  EXPECT_EQ((*batch[0])[1].seed, 13u);
  EXPECT_LE(MaxPixelDifference((*solo[0])[0].png, (*batch[1])[0].png), 1);
}

TEST_F(SdPipelineTest, ACancelledJobLeavesTheBatch) {
  SdPipeline& pipeline = Pipeline("sd1-tiny");
  GenerationRequest r;
  r.prompt = "a cat";
  r.model = "sd1-tiny";
  r.width = 32;
  r.height = 32;
  r.steps = 4;
  r.guidance_scale = 7.5;
  r.scheduler = "ddim";
  CancelToken token;
  token.Cancel();
  std::vector<EngineJob> jobs = {{r, &token}, {r, nullptr}};
  std::vector<Status> admitted(2);
  auto results = pipeline.Run(jobs, admitted, nullptr);
  EXPECT_EQ(results[0].status().code(), StatusCode::kCancelled);
  ASSERT_TRUE(results[1].ok());
  EXPECT_EQ(results[1]->size(), 1u);
}

TEST(SdLoading, EveryFormatLoadsThroughTorchEngineAndErrorsNameTheFile) {
  TorchEngineOptions options;
  options.threads = 2;
  Result<std::unique_ptr<Engine>> sdxl = TorchEngine::Load(kModels + "/sdxl-tiny", options);
  ASSERT_TRUE(sdxl.ok()) << sdxl.status().ToString();
  EXPECT_EQ((*sdxl)->limits().name, "sdxl-tiny");
  EXPECT_EQ((*sdxl)->limits().family, "sdxl");
  EXPECT_EQ((*sdxl)->limits().size_multiple, 8);

  // The tiny single files (testdata/ldm) are described from their header alone and load.
  const std::map<std::string, std::string> families = {
      {"sd1.safetensors", "sd1"}, {"sd2.safetensors", "sd2"}, {"sdxl.safetensors", "sdxl"}};
  for (const auto& [file, family] : families) {
    Result<ModelPath> where = ModelAt(kSingleFiles + "/" + file);
    ASSERT_TRUE(where.ok());
    EXPECT_EQ(where->format, ModelFormat::kSingleFile);
    Result<ModelLimits> described = DescribeModel(*where);
    ASSERT_TRUE(described.ok()) << described.status().ToString();
    EXPECT_EQ(described->family, family);
    EXPECT_EQ(described->size_multiple, 2);  // the VAE's factor (2 for these tiny ones)
    EXPECT_EQ(described->max_clip_skip, 1);  // text encoders of two layers
    Result<std::unique_ptr<Engine>> single = TorchEngine::Load(kSingleFiles + "/" + file, options);
    ASSERT_TRUE(single.ok()) << file << ": " << single.status().ToString();
    EXPECT_EQ((*single)->limits().family, family);
    EXPECT_EQ((*single)->limits().max_clip_skip, 1);
  }

  // A single file whose text encoder has fewer token embeddings than CLIP's vocabulary, which
  // single files are tokenized with, is refused at load, saying so.
  Result<SafetensorsFile> small =
      ReadSafetensorsFile(kSingleFiles + "/sd1.safetensors", {.skip_other_dtypes = true});
  ASSERT_TRUE(small.ok()) << small.status().ToString();
  FloatTensor& tokens = small->tensors.at(
      "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight");
  tokens.shape[0] = 256;
  tokens.values.resize(static_cast<size_t>(tokens.NumElements()));
  const fs::path small_file = fs::temp_directory_path() /
                              ("stipple-small-vocab-" + std::to_string(getpid()) + ".safetensors");
  ASSERT_TRUE(WriteSafetensorsFile(small_file.string(), *small).ok());
  Result<std::unique_ptr<Engine>> refused = TorchEngine::Load(small_file.string(), options);
  fs::remove(small_file);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("token embeddings"), std::string::npos)
      << refused.status().message();

  Result<std::unique_ptr<Engine>> pickle = TorchEngine::Load("/tmp/model.ckpt", options);
  EXPECT_EQ(pickle.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(pickle.status().message().find("pickle"), std::string::npos);
  Result<std::unique_ptr<Engine>> nothing = TorchEngine::Load(kModels, options);
  EXPECT_EQ(nothing.status().code(), StatusCode::kNotFound);

  // A UNet whose weights do not match its config: the error names the file and the tensor.
  const fs::path broken =
      fs::temp_directory_path() / ("stipple-broken-sd-" + std::to_string(getpid()));
  fs::remove_all(broken);
  fs::copy(kModels + "/sd1-tiny", broken, fs::copy_options::recursive);
  Result<std::string> config = ReadTextFile((broken / "unet" / "config.json").string());
  ASSERT_TRUE(config.ok());
  std::string changed = *config;
  const size_t at = changed.find("\"cross_attention_dim\"");
  ASSERT_NE(at, std::string::npos);
  changed.replace(changed.find(':', at) + 1,
                  changed.find_first_of(",}", at) - changed.find(':', at) - 1, " 48");
  std::ofstream((broken / "unet" / "config.json").string(), std::ios::trunc) << changed;
  Result<std::unique_ptr<Engine>> mismatch = TorchEngine::Load(broken.string(), options);
  EXPECT_EQ(mismatch.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(mismatch.status().message().find("unet"), std::string::npos)
      << mismatch.status().message();
  fs::remove_all(broken);
}

}  // namespace
}  // namespace stipple::torch_engine
