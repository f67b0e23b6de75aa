// UNet2DCondition against diffusers 0.27.2: tiny random-weight UNets shaped like SD 1.x, SD 2.x
// and SDXL (and two exercising the rarer config fields), their weights loaded by name, their
// outputs compared with diffusers' on the same inputs (testdata/unet, made by
// tools/goldens/unet.py), also with the text states' keys and values projected ahead. Also: strict
// weight loading and wrong inputs.
#include "engine/torch/unet2d_condition.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "engine/safetensors.h"
#include "engine/unet2d_config.h"

namespace stipple::torch_engine {
namespace {

std::string Dir(const std::string& name) {
  return std::string(STIPPLE_ENGINE_TESTDATA) + "/unet/" + name;
}

UNet2DConditionConfig Config(const std::string& name) {
  std::ifstream in(Dir(name) + "/config.json");
  std::ostringstream text;
  text << in.rdbuf();
  Result<UNet2DConditionConfig> c = ParseUNet2DConditionConfig(text.str(), "config.json");
  EXPECT_TRUE(c.ok()) << name << ": " << c.status().ToString();
  return c.ok() ? *c : UNet2DConditionConfig{};
}

SafetensorsFile Read(const std::string& path) {
  Result<SafetensorsFile> file = ReadSafetensorsFile(path);
  EXPECT_TRUE(file.ok()) << file.status().ToString();
  return file.ok() ? *file : SafetensorsFile{};
}

torch::Tensor ToTorch(const SafetensorsFile& file, const std::string& name) {
  auto it = file.tensors.find(name);
  if (it == file.tensors.end()) return {};
  return torch::from_blob(const_cast<float*>(it->second.values.data()),
                          c10::IntArrayRef(it->second.shape), torch::kFloat)
      .clone();
}

UNet2DCondition LoadModel(const std::string& name) {
  UNet2DCondition model(Config(name));
  Status loaded = LoadUNet2DConditionWeights(
      model, Read(Dir(name) + "/diffusion_pytorch_model.safetensors"), name);
  EXPECT_TRUE(loaded.ok()) << loaded.ToString();
  model->eval();
  return model;
}

class UNet2DConditionGolden : public ::testing::TestWithParam<const char*> {};

TEST_P(UNet2DConditionGolden, MatchesDiffusers) {
  const std::string name = GetParam();
  torch::NoGradGuard no_grad;
  UNet2DCondition model = LoadModel(name);
  SafetensorsFile golden = Read(Dir(name) + "/golden.safetensors");
  UNetAddedConditions added;
  added.text_embeds = ToTorch(golden, "text_embeds");
  added.time_ids = ToTorch(golden, "time_ids");
  added.timestep_cond = ToTorch(golden, "timestep_cond");
  const torch::Tensor sample = ToTorch(golden, "sample");
  const torch::Tensor context = ToTorch(golden, "encoder_hidden_states");

  torch::Tensor out = model(sample, ToTorch(golden, "timesteps_float"), context, added);
  torch::Tensor expected = ToTorch(golden, "out_float");
  ASSERT_EQ(out.sizes(), expected.sizes());
  const float error = (out - expected).abs().max().item<float>();
  EXPECT_LE(error, 1e-4);
  EXPECT_GT(expected.std().item<float>(), 0.1);  // not a trivial output

  // An integer timestep, one for the whole batch (timed: the second, warm forward).
  const auto start = std::chrono::steady_clock::now();
  out = model(sample, ToTorch(golden, "timestep_int"), context, added);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LE((out - ToTorch(golden, "out_int")).abs().max().item<float>(), 1e-4);

  // The text states' keys and values projected ahead (as a sampling loop does once per call):
  // the same output, to the bit.
  const CrossKeysValues projected = model->ProjectText(context);
  EXPECT_EQ(projected.keys.size(), model->cross_blocks.size());
  UNetAddedConditions with_projected = added;
  with_projected.text_keys_values = &projected;
  EXPECT_TRUE(
      torch::equal(model(sample, ToTorch(golden, "timestep_int"), context, with_projected), out));
  std::printf("%s: largest difference %.2g; one forward of %s in %.1f ms\n", name.c_str(), error,
              c10::str(sample.sizes()).c_str(), ms);
}

INSTANTIATE_TEST_SUITE_P(Tiny, UNet2DConditionGolden,
                         ::testing::Values("sd15", "sd2", "sdxl", "extras", "nomid", "textpool"));

TEST(UNet2DCondition, ParameterNamesAreDiffusersStateDictNames) {
  UNet2DCondition model(Config("sdxl"));
  const auto params = model->named_parameters();
  for (const char* name : {"conv_in.weight",
                           "time_embedding.linear_1.weight",
                           "time_embedding.linear_2.bias",
                           "add_embedding.linear_1.weight",
                           "add_embedding.linear_2.bias",
                           "down_blocks.0.resnets.0.norm1.weight",
                           "down_blocks.0.resnets.1.time_emb_proj.weight",
                           "down_blocks.0.downsamplers.0.conv.weight",
                           "down_blocks.1.resnets.0.conv_shortcut.weight",
                           "down_blocks.1.attentions.0.norm.weight",
                           "down_blocks.1.attentions.0.proj_in.weight",
                           "down_blocks.1.attentions.1.transformer_blocks.1.attn1.to_q.weight",
                           "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight",
                           "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_out.0.bias",
                           "down_blocks.1.attentions.0.transformer_blocks.0.ff.net.0.proj.weight",
                           "down_blocks.1.attentions.0.transformer_blocks.0.ff.net.2.weight",
                           "down_blocks.1.attentions.0.transformer_blocks.0.norm3.bias",
                           "down_blocks.1.attentions.0.proj_out.bias",
                           "mid_block.resnets.1.conv2.weight",
                           "mid_block.attentions.0.transformer_blocks.1.norm1.weight",
                           "up_blocks.0.resnets.2.conv_shortcut.weight",
                           "up_blocks.0.attentions.2.proj_out.weight",
                           "up_blocks.0.upsamplers.0.conv.weight",
                           "up_blocks.1.resnets.2.conv1.weight",
                           "conv_norm_out.weight",
                           "conv_out.bias"}) {
    EXPECT_TRUE(params.contains(name)) << name;
  }
  EXPECT_FALSE(params.contains("down_blocks.1.downsamplers.0.conv.weight"));
  EXPECT_FALSE(params.contains("up_blocks.1.attentions.0.norm.weight"));
  EXPECT_EQ(params["down_blocks.1.attentions.0.proj_in.weight"].sizes(),
            (std::vector<int64_t>{32, 32}));  // linear projection
  EXPECT_EQ(UNet2DCondition(Config("sd15"))
                ->named_parameters()["down_blocks.0.attentions.0.proj_in.weight"]
                .sizes(),
            (std::vector<int64_t>{16, 16, 1, 1}));  // 1x1 conv
}

TEST(UNet2DCondition, WeightLoadingIsStrict) {
  const SafetensorsFile weights = Read(Dir("sd15") + "/diffusion_pytorch_model.safetensors");
  UNet2DCondition model(Config("sd15"));

  SafetensorsFile missing = weights;
  missing.tensors.erase("mid_block.resnets.0.conv1.weight");
  Status s = LoadUNet2DConditionWeights(model, missing, "unet/diffusion_pytorch_model.safetensors");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("unet/diffusion_pytorch_model.safetensors"), std::string::npos);
  EXPECT_NE(s.message().find("missing"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("'mid_block.resnets.0.conv1.weight'"), std::string::npos);

  SafetensorsFile misshapen = weights;
  misshapen.tensors["conv_in.weight"] = {{16, 4, 1, 1}, std::vector<float>(64)};
  s = LoadUNet2DConditionWeights(model, misshapen, "unet.safetensors");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'conv_in.weight' is [16, 4, 1, 1]"), std::string::npos)
      << s.message();

  SafetensorsFile extra = weights;
  extra.tensors["add_embedding.linear_1.weight"] = {{2, 2}, std::vector<float>(4)};
  s = LoadUNet2DConditionWeights(model, extra, "unet.safetensors");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("unexpected"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("'add_embedding.linear_1.weight'"), std::string::npos);

  // A model for another config does not take these weights either.
  UNet2DCondition other(Config("sdxl"));
  EXPECT_EQ(LoadUNet2DConditionWeights(other, weights, "x").code(), StatusCode::kInvalidArgument);
}

TEST(UNet2DCondition, MissingAddedConditionsAndWrongShapesThrow) {
  torch::NoGradGuard no_grad;
  UNet2DCondition model(Config("sdxl"));
  const torch::Tensor sample = torch::randn({1, 4, 8, 8}), t = torch::tensor({10.0f});
  const torch::Tensor context = torch::randn({1, 3, 32});
  EXPECT_THROW(model(sample, t, context), c10::Error);
  UNetAddedConditions added{torch::randn({1, 16}), torch::randn({1, 5}), {}};
  EXPECT_THROW(model(sample, t, context, added), c10::Error);  // 16 + 5 * 8 != 64
  added.time_ids = torch::randn({1, 6});
  EXPECT_EQ(model(sample, t, context, added).sizes(), sample.sizes());
  EXPECT_THROW(model(sample, t, torch::randn({1, 3, 7}), added), c10::Error);
  EXPECT_THROW(model(sample, torch::tensor({1.0f, 2.0f, 3.0f}), context, added), c10::Error);
}

}  // namespace
}  // namespace stipple::torch_engine
