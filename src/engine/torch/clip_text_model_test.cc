#include "engine/torch/clip_text_model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <fstream>
#include <sstream>

#include "engine/clip_tokenizer.h"

namespace stipple::torch_engine {
namespace {

namespace json = boost::json;

const std::string kClipText = std::string(STIPPLE_ENGINE_TESTDATA) + "/clip-text/";

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

torch::Tensor ToTensor(const FloatTensor& t) {
  return torch::from_blob(const_cast<float*>(t.values.data()), c10::IntArrayRef(t.shape),
                          torch::kFloat)
      .clone();
}

ClipTextConfig LoadConfig(const std::string& model) {
  Result<ClipTextConfig> c =
      ParseClipTextConfig(ReadText(kClipText + model + "/config.json"), model + "/config.json");
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *c : ClipTextConfig{};
}

SafetensorsFile LoadSafetensors(const std::string& path) {
  Result<SafetensorsFile> f = ReadSafetensorsFile(path);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  return f.ok() ? std::move(f).value() : SafetensorsFile{};
}

void ExpectClose(const torch::Tensor& actual, const torch::Tensor& expected, const char* what) {
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  const double diff = (actual - expected).abs().max().item<double>();
  EXPECT_LE(diff, 1e-4) << what;
}

class ClipTextGolden : public testing::TestWithParam<const char*> {};

TEST_P(ClipTextGolden, MatchesOpenAiClipsTextTransformer) {
  const std::string name = GetParam();
  const ClipTextConfig config = LoadConfig(name);
  ClipTextModel model(config);
  ASSERT_TRUE(
      LoadClipTextWeights(model, LoadSafetensors(kClipText + name + "/model.safetensors"), name)
          .ok());
  model->eval();
  SafetensorsFile golden = LoadSafetensors(kClipText + name + "/golden.safetensors");
  const torch::Tensor ids = ToTensor(golden.tensors.at("ids")).to(torch::kLong);

  // The ids are what the truncated-vocabulary tokenizer makes of the prompts.
  const json::value meta = json::parse(ReadText(kClipText + "golden.json"));
  ClipTokenizerOptions options;
  options.pad_token = std::string(meta.at("models").at(name).at("pad").as_string());
  Result<std::unique_ptr<ClipTokenizer>> tokenizer = ClipTokenizer::FromText(
      ReadText(std::string(STIPPLE_ENGINE_TESTDATA) + "/clip-vocab-tiny/vocab.json"),
      ReadText(std::string(STIPPLE_ENGINE_TESTDATA) + "/clip-vocab-tiny/merges.txt"), options);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  const json::array& prompts = meta.at("prompts").as_array();
  ASSERT_EQ(static_cast<int64_t>(prompts.size()), ids.size(0));
  for (size_t i = 0; i < prompts.size(); ++i) {
    std::vector<int32_t> encoded = (*tokenizer)->Encode(std::string(prompts[i].as_string()));
    torch::Tensor row = torch::tensor(std::vector<int64_t>(encoded.begin(), encoded.end()));
    EXPECT_TRUE(torch::equal(row, ids[static_cast<int64_t>(i)])) << "prompt " << i;
  }

  torch::NoGradGuard no_grad;
  ClipTextOutput out = model(ids);
  ASSERT_EQ(out.hidden_states.size(), static_cast<size_t>(config.num_hidden_layers + 1));
  const size_t n = out.hidden_states.size();
  ExpectClose(out.hidden_states[n - 1], ToTensor(golden.tensors.at("hidden_states.-1")),
              "hidden_states[-1]");
  ExpectClose(out.hidden_states[n - 2], ToTensor(golden.tensors.at("hidden_states.-2")),
              "hidden_states[-2]");
  ExpectClose(out.last_hidden_state, ToTensor(golden.tensors.at("last_hidden_state")),
              "last_hidden_state");
  ExpectClose(out.pooled, ToTensor(golden.tensors.at("pooled")), "pooled");
  if (config.with_projection) {
    ExpectClose(out.text_embeds, ToTensor(golden.tensors.at("text_embeds")), "text_embeds");
  } else {
    EXPECT_FALSE(out.text_embeds.defined());
  }

  // One row alone gives the same as in the batch (no state shared across rows).
  ClipTextOutput single = model(ids.slice(0, 2, 3));
  ExpectClose(single.last_hidden_state, out.last_hidden_state.slice(0, 2, 3), "row 2 alone");
}

INSTANTIATE_TEST_SUITE_P(Encoders, ClipTextGolden, testing::Values("sd1", "sdxl2"));

TEST(ClipTextModel, ParameterNamesAreHuggingFaces) {
  ClipTextConfig config = LoadConfig("sdxl2");
  ClipTextModel model(config);
  std::vector<std::string> names;
  for (const auto& p : model->named_parameters()) names.push_back(p.key());
  for (const char* expected : {
           "text_model.embeddings.token_embedding.weight",
           "text_model.embeddings.position_embedding.weight",
           "text_model.encoder.layers.0.self_attn.q_proj.weight",
           "text_model.encoder.layers.1.self_attn.out_proj.bias",
           "text_model.encoder.layers.1.layer_norm2.weight",
           "text_model.encoder.layers.0.mlp.fc1.bias",
           "text_model.final_layer_norm.bias",
           "text_projection.weight",
       }) {
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
  }
  EXPECT_EQ(std::find(names.begin(), names.end(), "text_projection.bias"), names.end());
  // 2 embeddings + 16 per layer + 2 final norm + projection.
  EXPECT_EQ(names.size(), 2u + 16u * 2u + 2u + 1u);
}

class ClipTextWeightErrors : public testing::Test {
 protected:
  ClipTextWeightErrors()
      : model_(LoadConfig("sd1")), weights_(LoadSafetensors(kClipText + "sd1/model.safetensors")) {}
  Status Load(SafetensorsFile weights) {
    return LoadClipTextWeights(model_, std::move(weights), "text_encoder/model.safetensors");
  }
  static void ExpectNames(const Status& s, const std::string& tensor) {
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
    EXPECT_NE(s.message().find("text_encoder/model.safetensors"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(tensor), std::string::npos) << s.message();
  }
  ClipTextModel model_;
  SafetensorsFile weights_;
};

TEST_F(ClipTextWeightErrors, ToleratesPositionIdsWithOrWithout) {
  ASSERT_EQ(weights_.tensors.count("text_model.embeddings.position_ids"), 1u);
  EXPECT_TRUE(Load(weights_).ok());
  weights_.tensors.erase("text_model.embeddings.position_ids");
  EXPECT_TRUE(Load(weights_).ok());
}

TEST_F(ClipTextWeightErrors, MissingTensor) {
  weights_.tensors.erase("text_model.encoder.layers.2.mlp.fc2.weight");
  ExpectNames(Load(weights_), "text_model.encoder.layers.2.mlp.fc2.weight");
}

TEST_F(ClipTextWeightErrors, WrongShape) {
  FloatTensor& t = weights_.tensors.at("text_model.encoder.layers.1.self_attn.k_proj.weight");
  t.shape = {16, 64};
  ExpectNames(Load(weights_), "text_model.encoder.layers.1.self_attn.k_proj.weight");
}

TEST_F(ClipTextWeightErrors, UnexpectedTensor) {
  weights_.tensors["text_projection.weight"] = FloatTensor{{4, 32}, std::vector<float>(128)};
  ExpectNames(Load(weights_), "text_projection.weight");
}

TEST_F(ClipTextWeightErrors, ConfigWithMoreLayersThanTheWeights) {
  ClipTextConfig config = LoadConfig("sd1");
  config.num_hidden_layers = 4;
  ClipTextModel bigger(config);
  Status s = LoadClipTextWeights(bigger, weights_, "text_encoder/model.safetensors");
  ExpectNames(s, "text_model.encoder.layers.3.");
}

}  // namespace
}  // namespace stipple::torch_engine
