// AutoencoderKL against diffusers 0.27.2's outputs (goldens from tools/goldens/vae.py), and the
// weight loading's renames and errors.
#include "engine/torch/autoencoder_kl.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>

namespace stipple::torch_engine {
namespace {

std::string Folder(const std::string& name) {
  return std::string(STIPPLE_ENGINE_TESTDATA) + "/vae/" + name;
}

torch::Tensor ToTensor(const FloatTensor& t) {
  return torch::from_blob(const_cast<float*>(t.values.data()), c10::IntArrayRef(t.shape),
                          torch::kFloat)
      .clone();
}

struct Golden {
  AutoencoderKLConfig config;
  SafetensorsFile weights;
  torch::Tensor latent, decoded, image, mean, logvar;
};

Golden ReadGolden(const std::string& name) {
  Golden g;
  Result<AutoencoderKLConfig> config = LoadAutoencoderKLConfig(Folder(name) + "/config.json");
  EXPECT_TRUE(config.ok()) << config.status().ToString();
  if (config.ok()) g.config = *config;
  Result<SafetensorsFile> weights =
      ReadSafetensorsFile(Folder(name) + "/diffusion_pytorch_model.safetensors");
  EXPECT_TRUE(weights.ok()) << weights.status().ToString();
  if (weights.ok()) g.weights = std::move(weights).value();
  Result<SafetensorsFile> golden = ReadSafetensorsFile(Folder(name) + "/golden.safetensors");
  EXPECT_TRUE(golden.ok()) << golden.status().ToString();
  if (golden.ok()) {
    g.latent = ToTensor(golden->tensors.at("latent"));
    g.decoded = ToTensor(golden->tensors.at("decoded"));
    g.image = ToTensor(golden->tensors.at("image"));
    g.mean = ToTensor(golden->tensors.at("mean"));
    g.logvar = ToTensor(golden->tensors.at("logvar"));
  }
  return g;
}

double MaxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return 1e9;
  return (a.to(torch::kCPU, torch::kDouble) - b.to(torch::kCPU, torch::kDouble))
      .abs()
      .max()
      .item<double>();
}

class VaeGoldenTest : public ::testing::TestWithParam<const char*> {};

TEST_P(VaeGoldenTest, DecodeAndEncodeMatchDiffusers) {
  torch::NoGradGuard no_grad;
  Golden g = ReadGolden(GetParam());
  AutoencoderKL model(g.config);
  Status loaded = LoadAutoencoderKLWeights(model, g.weights, "diffusion_pytorch_model.safetensors");
  ASSERT_TRUE(loaded.ok()) << loaded.ToString();
  model->eval();

  EXPECT_LE(MaxAbsDiff(model->Decode(g.latent), g.decoded), 1e-4);
  VaePosterior posterior = model->Encode(g.image);
  EXPECT_LE(MaxAbsDiff(posterior.mean, g.mean), 1e-4);
  EXPECT_LE(MaxAbsDiff(posterior.logvar, g.logvar), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Folders, VaeGoldenTest, ::testing::Values("sd", "sdxl", "plain"));

TEST(AutoencoderKLTest, ParameterNamesAreDiffusersStateDictNames) {
  Golden g = ReadGolden("sd");
  AutoencoderKL model(g.config);
  std::set<std::string> names, file_names;
  for (const auto& item : model->named_parameters()) names.insert(item.key());
  for (const auto& [name, tensor] : g.weights.tensors) file_names.insert(name);
  EXPECT_EQ(names, file_names);
  for (const char* name : {"encoder.down_blocks.0.downsamplers.0.conv.weight",
                           "encoder.down_blocks.1.resnets.0.conv_shortcut.weight",
                           "encoder.mid_block.attentions.0.to_out.0.bias",
                           "encoder.mid_block.attentions.0.group_norm.weight", "quant_conv.bias",
                           "post_quant_conv.weight", "decoder.up_blocks.0.upsamplers.0.conv.bias",
                           "decoder.up_blocks.1.resnets.1.norm2.weight",
                           "decoder.up_blocks.1.resnets.0.conv_shortcut.bias"}) {
    EXPECT_EQ(names.count(name), 1u) << name;
  }
  EXPECT_TRUE(model->force_upcast() == g.config.force_upcast);
  EXPECT_TRUE(ReadGolden("sdxl").config.force_upcast);
}

TEST(AutoencoderKLTest, TakesAttentionWeightsStoredAsOneByOneConvs) {
  torch::NoGradGuard no_grad;
  Golden g = ReadGolden("sd");
  for (auto& [name, tensor] : g.weights.tensors) {
    if (name.find(".attentions.0.to_") != std::string::npos && tensor.shape.size() == 2) {
      tensor.shape.push_back(1);
      tensor.shape.push_back(1);
    }
  }
  AutoencoderKL model(g.config);
  Status loaded = LoadAutoencoderKLWeights(model, g.weights, "vae.safetensors");
  ASSERT_TRUE(loaded.ok()) << loaded.ToString();
  EXPECT_LE(MaxAbsDiff(model->Decode(g.latent), g.decoded), 1e-4);
}

TEST(AutoencoderKLTest, RunsInAnotherDtype) {
  torch::NoGradGuard no_grad;
  Golden g = ReadGolden("sd");
  AutoencoderKL model(g.config);
  ASSERT_TRUE(LoadAutoencoderKLWeights(model, g.weights, "vae.safetensors").ok());
  model->to(torch::kDouble);
  torch::Tensor decoded = model->Decode(g.latent);  // float latent, double model
  EXPECT_EQ(decoded.scalar_type(), torch::kDouble);
  EXPECT_LE(MaxAbsDiff(decoded, g.decoded), 1e-4);
  EXPECT_EQ(model->Encode(g.image).mean.scalar_type(), torch::kDouble);
}

TEST(AutoencoderKLTest, RunsOnCudaInHalf) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::NoGradGuard no_grad;
  Golden g = ReadGolden("sd");
  AutoencoderKL model(g.config);
  ASSERT_TRUE(LoadAutoencoderKLWeights(model, g.weights, "vae.safetensors").ok());
  model->to(torch::kCUDA, torch::kHalf);
  torch::Tensor decoded = model->Decode(g.latent.to(torch::kCUDA));
  EXPECT_EQ(decoded.scalar_type(), torch::kHalf);
  EXPECT_LE(MaxAbsDiff(decoded, g.decoded), 3e-2);
  VaePosterior posterior = model->Encode(g.image.to(torch::kCUDA, torch::kHalf));
  EXPECT_LE(MaxAbsDiff(posterior.mean, g.mean), 3e-2);
}

TEST(AutoencoderKLTest, AttentionOverManyPositionsMatchesTheWholeScoreMatrix) {
  // 2304 positions: past the size where the attention works on slices of the queries (libtorch
  // 1.x) or hands over to the fused kernel (libtorch 2).
  torch::NoGradGuard no_grad;
  torch::manual_seed(3);
  VaeAttention attention(8, 4);
  torch::Tensor x = torch::randn({1, 8, 48, 48});
  torch::Tensor t = attention->group_norm(x).view({1, 8, 2304}).transpose(1, 2);
  torch::Tensor q = attention->to_q(t), k = attention->to_k(t), v = attention->to_v(t);
  torch::Tensor probs = (torch::matmul(q, k.transpose(1, 2)) / std::sqrt(8.0)).softmax(-1);
  torch::Tensor expected =
      attention->out(torch::matmul(probs, v)).transpose(1, 2).reshape({1, 8, 48, 48}) + x;
  EXPECT_LE(MaxAbsDiff(attention(x), expected), 1e-5);
}

// Loads `weights` into the "sd" model; the error's message.
std::string LoadError(SafetensorsFile weights) {
  AutoencoderKL model(ReadGolden("sd").config);
  Status status = LoadAutoencoderKLWeights(model, std::move(weights), "vae/x.safetensors");
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  return status.message();
}

TEST(AutoencoderKLTest, MissingTensorIsNamed) {
  SafetensorsFile weights = ReadGolden("sd").weights;
  weights.tensors.erase("decoder.up_blocks.1.resnets.0.conv_shortcut.weight");
  std::string message = LoadError(std::move(weights));
  EXPECT_NE(message.find("vae/x.safetensors"), std::string::npos) << message;
  EXPECT_NE(message.find("missing"), std::string::npos) << message;
  EXPECT_NE(message.find("decoder.up_blocks.1.resnets.0.conv_shortcut.weight"), std::string::npos)
      << message;
}

TEST(AutoencoderKLTest, WrongShapeIsNamed) {
  SafetensorsFile weights = ReadGolden("sd").weights;
  weights.tensors["encoder.conv_in.weight"].shape = {32, 1, 3, 9};
  std::string message = LoadError(std::move(weights));
  EXPECT_NE(message.find("vae/x.safetensors"), std::string::npos) << message;
  EXPECT_NE(message.find("'encoder.conv_in.weight' is [32, 1, 3, 9]"), std::string::npos)
      << message;
}

TEST(AutoencoderKLTest, UnexpectedTensorIsNamed) {
  SafetensorsFile weights = ReadGolden("sd").weights;
  weights.tensors["encoder.mid_block.attentions.1.to_q.weight"] = {{2, 2}, {0, 0, 0, 0}};
  std::string message = LoadError(std::move(weights));
  EXPECT_NE(message.find("unexpected"), std::string::npos) << message;
  EXPECT_NE(message.find("encoder.mid_block.attentions.1.to_q.weight"), std::string::npos)
      << message;
}

TEST(AutoencoderKLTest, LegacyAndCurrentNameTogetherIsAnError) {
  SafetensorsFile weights = ReadGolden("sd").weights;
  weights.tensors["decoder.mid_block.attentions.0.query.weight"] =
      weights.tensors.at("decoder.mid_block.attentions.0.to_q.weight");
  std::string message = LoadError(std::move(weights));
  EXPECT_NE(message.find("'decoder.mid_block.attentions.0.query.weight'"), std::string::npos)
      << message;
}

TEST(AutoencoderKLTest, ConfigWithoutMidAttentionRejectsAttentionWeights) {
  // The "sd" weights (with attention) into a model configured without it.
  Golden g = ReadGolden("sd");
  g.config.mid_block_add_attention = false;
  AutoencoderKL model(g.config);
  Status status = LoadAutoencoderKLWeights(model, g.weights, "vae/x.safetensors");
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("unexpected tensors: 'decoder.mid_block.attentions.0."),
            std::string::npos)
      << status.message();
}

}  // namespace
}  // namespace stipple::torch_engine
