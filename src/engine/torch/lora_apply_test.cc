// LoRA per request on the tiny SD 1.x test model: the goldens of tools/goldens/lora_goldens.py
// (diffusers 0.27.2 with the weights merged as W + s · (alpha/rank) · up · down) in both key
// formats, at several scales and two at once; the exact restore; errors naming the field, the
// file and the key.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/lora_file.h"
#include "engine/safetensors.h"
#include "engine/testing/tiny_sd_model.h"
#include "engine/torch_engine.h"

namespace stipple {
namespace {

namespace fs = std::filesystem;

const std::string kLoraDir = LoraDirFor(TinySdModelDir());

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The goldens' request (lora_goldens.py CASE).
GenerationRequest GoldenRequest(std::vector<LoraRequest> loras) {
  GenerationRequest r = TinySdRequest("a photo of an astronaut riding a horse on mars", 0);
  r.negative_prompt = "";
  r.steps = 4;
  r.guidance_scale = 7.5;
  r.loras = std::move(loras);
  return r;
}

class LoraTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    extra_ = fs::temp_directory_path() / ("lora_apply_test_" + std::to_string(::getpid()));
    fs::create_directories(extra_);
    // A LoRA of another family, and one whose layer the model does not have.
    SafetensorsFile xl;
    xl.metadata["ss_base_model_version"] = "sdxl_base_v1-0";
    xl.tensors["lora_unet_mid_block_attentions_0_proj_out.lora_down.weight"] = {{2, 32}, {}};
    xl.tensors["lora_unet_mid_block_attentions_0_proj_out.lora_up.weight"] = {{32, 2}, {}};
    for (auto& [name, t] : xl.tensors) t.values.assign(64, 0.0f);
    ASSERT_TRUE(WriteSafetensorsFile((extra_ / "xl.safetensors").string(), xl).ok());
    SafetensorsFile misfit = xl;
    misfit.metadata["ss_base_model_version"] = "sd_v1";
    misfit.tensors["lora_unet_down_blocks_7_attentions_0_proj_in.lora_down.weight"] = {
        {2, 32}, std::vector<float>(64)};
    misfit.tensors["lora_unet_down_blocks_7_attentions_0_proj_in.lora_up.weight"] = {
        {32, 2}, std::vector<float>(64)};
    ASSERT_TRUE(WriteSafetensorsFile((extra_ / "misfit.safetensors").string(), misfit).ok());

    TorchEngineOptions options;
    options.threads = 2;  // as the goldens were computed
    options.preview_every = 0;
    options.lora_files = FindLoraFiles(kLoraDir);
    options.lora_files["xl"] = (extra_ / "xl.safetensors").string();
    options.lora_files["misfit"] = (extra_ / "misfit.safetensors").string();
    options.lora_files["missing"] = (extra_ / "missing.safetensors").string();
    Result<std::unique_ptr<Engine>> engine = TorchEngine::Load(TinySdModelDir(), options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(engine).value().release();
  }
  static void TearDownTestSuite() {
    delete engine_;
    fs::remove_all(extra_);
  }

  static Result<std::vector<GeneratedImage>> Run(const GenerationRequest& request) {
    std::vector<EngineJob> jobs = {{request, nullptr}};
    return std::move(engine_->Generate(jobs, nullptr).at(0));
  }
  static std::string Png(const GenerationRequest& request) {
    Result<std::vector<GeneratedImage>> images = Run(request);
    EXPECT_TRUE(images.ok()) << images.status().ToString();
    return images.ok() ? images->at(0).png : std::string();
  }

  static Engine* engine_;
  static fs::path extra_;
};

Engine* LoraTest::engine_ = nullptr;
fs::path LoraTest::extra_;

TEST_F(LoraTest, MatchesDiffusersWithTheMergedWeights) {
  struct Case {
    const char* image;
    std::vector<LoraRequest> loras;
  };
  const std::vector<Case> cases = {
      {"kohya-0.5", {{"tiny-kohya", 0.5}}},
      {"kohya-1", {{"tiny-kohya", 1.0}}},
      {"kohya-0", {{"tiny-kohya", 0.0}}},
      {"peft-1", {{"tiny-peft", 1.0}}},
      {"both", {{"tiny-kohya", 0.5}, {"tiny-peft", 1.0}}},
  };
  for (const Case& c : cases) {
    const std::string expected = ReadFile(kLoraDir + "/expected/" + c.image + ".png");
    ASSERT_FALSE(expected.empty()) << c.image;
    EXPECT_LE(MaxPixelDifference(Png(GoldenRequest(c.loras)), expected), 2) << c.image;
  }
  // Without a LoRA: the model's own golden.
  const std::string plain = ReadFile(kLoraDir + "/expected/kohya-0.png");
  EXPECT_LE(MaxPixelDifference(Png(GoldenRequest({})), plain), 2);
}

TEST_F(LoraTest, RestoresTheLoadedWeightsExactly) {
  const std::string before = Png(GoldenRequest({}));
  const std::string with = Png(GoldenRequest({{"tiny-kohya", 1.0}, {"tiny-peft", -0.7}}));
  EXPECT_GT(MaxPixelDifference(before, with), 10);
  EXPECT_EQ(Png(GoldenRequest({})), before);  // the same bytes
  EXPECT_EQ(Png(GoldenRequest({{"tiny-kohya", 1.0}, {"tiny-peft", -0.7}})), with);
}

TEST_F(LoraTest, JobsWithAnotherLoraSetAreRefusedFromTheBatch) {
  std::vector<EngineJob> jobs = {{GoldenRequest({{"tiny-kohya", 1.0}}), nullptr},
                                 {GoldenRequest({{"tiny-kohya", 0.5}}), nullptr},
                                 {GoldenRequest({{"tiny-kohya", 1.0}}), nullptr}};
  auto results = engine_->Generate(jobs, nullptr);
  EXPECT_TRUE(results[0].ok());
  EXPECT_EQ(results[1].status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(results[2].ok());
}

TEST_F(LoraTest, ErrorsNameTheFieldTheFileAndTheKey) {
  const std::string before = Png(GoldenRequest({}));
  auto message = [](const GenerationRequest& r) {
    Result<std::vector<GeneratedImage>> images = Run(r);
    EXPECT_EQ(images.status().code(), StatusCode::kInvalidArgument) << images.status().ToString();
    return images.status().message();
  };
  EXPECT_NE(message(GoldenRequest({{"nope", 1.0}})).find("loras[0].name: no LoRA named 'nope'"),
            std::string::npos);
  const std::string family = message(GoldenRequest({{"tiny-kohya", 1.0}, {"xl", 1.0}}));
  EXPECT_NE(family.find("loras[1].name"), std::string::npos) << family;
  EXPECT_NE(family.find("is for sdxl models, this model is sd1"), std::string::npos) << family;
  const std::string misfit = message(GoldenRequest({{"misfit", 1.0}}));
  EXPECT_NE(misfit.find("misfit.safetensors"), std::string::npos) << misfit;
  EXPECT_NE(misfit.find("lora_unet_down_blocks_7_attentions_0_proj_in"), std::string::npos)
      << misfit;
  Result<std::vector<GeneratedImage>> missing = Run(GoldenRequest({{"missing", 1.0}}));
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("loras[0].name"), std::string::npos);
  // A refused set leaves the loaded weights.
  EXPECT_EQ(Png(GoldenRequest({})), before);
}

TEST(LoraXlTest, LdmNamedKohyaKeysAndBothTextEncodersMatchDiffusers) {
  TorchEngineOptions options;
  options.threads = 2;
  options.preview_every = 0;
  options.lora_files = FindLoraFiles(kLoraDir);
  const std::string model = (fs::path(TinySdModelDir()).parent_path() / "sdxl-tiny").string();
  Result<std::unique_ptr<Engine>> engine = TorchEngine::Load(model, options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  for (double scale : {0.5, 1.0}) {
    GenerationRequest r = GoldenRequest({{"tiny-xl-kohya", scale}});
    r.model = "sdxl-tiny";
    auto results = (*engine)->Generate(std::vector<EngineJob>{{r, nullptr}}, nullptr);
    ASSERT_TRUE(results[0].ok()) << results[0].status().ToString();
    const std::string image = scale == 1.0 ? "xl-kohya-1" : "xl-kohya-0.5";
    EXPECT_LE(MaxPixelDifference(results[0]->at(0).png,
                                 ReadFile(kLoraDir + "/expected/" + image + ".png")),
              2)
        << image;
  }
  GenerationRequest sd1 = GoldenRequest({{"tiny-kohya", 1.0}});
  sd1.model = "sdxl-tiny";
  auto refused = (*engine)->Generate(std::vector<EngineJob>{{sd1, nullptr}}, nullptr);
  EXPECT_NE(refused[0].status().message().find("is for sd1 models, this model is sdxl"),
            std::string::npos)
      << refused[0].status().ToString();
}

}  // namespace
}  // namespace stipple
