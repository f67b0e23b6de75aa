// Single-file checkpoints against the goldens of tools/goldens/ldm_single_file.py: tiny SD 1.x,
// SD 2.x and SDXL models written in the LDM layout (checked there with diffusers' own
// converters); each converted part must hold the diffusers model's tensors (names, shapes,
// checksums) and the config diffusers has for it.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include "engine/ldm_checkpoint.h"

namespace stipple {
namespace {

namespace json = boost::json;

std::string TestData(const std::string& name) {
  return std::string(STIPPLE_ENGINE_TESTDATA) + "/ldm/" + name;
}

json::value ReadJson(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return json::parse(text.str());
}

double Number(const json::value& v) {
  return v.is_double() ? v.as_double() : v.to_number<double>();
}

// Same JSON, numbers of the same kind (integer or not) and value.
void ExpectSameJson(const json::value& got, const json::value& want, const std::string& where) {
  if (want.is_number()) {
    ASSERT_TRUE(got.is_number()) << where << ": " << json::serialize(got);
    EXPECT_EQ(got.is_double(), want.is_double()) << where << ": " << json::serialize(got);
    EXPECT_NEAR(Number(got), Number(want), 1e-12 * (1 + std::fabs(Number(want)))) << where;
    return;
  }
  ASSERT_EQ(got.kind(), want.kind()) << where << ": " << json::serialize(got);
  if (want.is_object()) {
    for (const auto& [k, v] : want.as_object()) {
      const json::value* g = got.as_object().if_contains(k);
      EXPECT_NE(g, nullptr) << where << "." << std::string(k) << " missing";
      if (g != nullptr) ExpectSameJson(*g, v, where + "." + std::string(k));
    }
    for (const auto& [k, v] : got.as_object()) {
      EXPECT_TRUE(want.as_object().contains(k)) << where << "." << std::string(k) << " unexpected";
    }
  } else if (want.is_array()) {
    ASSERT_EQ(got.as_array().size(), want.as_array().size()) << where;
    for (size_t i = 0; i < want.as_array().size(); ++i) {
      ExpectSameJson(got.as_array()[i], want.as_array()[i], where + "[" + std::to_string(i) + "]");
    }
  } else {
    EXPECT_EQ(got, want) << where;
  }
}

void ExpectTensorsMatch(const SafetensorsFile& part, const json::object& want,
                        const std::string& name) {
  EXPECT_EQ(part.tensors.size(), want.size()) << name;
  for (const auto& [key, golden] : want) {
    const std::string where = name + " " + std::string(key);
    auto it = part.tensors.find(std::string(key));
    if (it == part.tensors.end()) {
      ADD_FAILURE() << where << " missing";
      continue;
    }
    const FloatTensor& t = it->second;
    std::vector<int64_t> shape;
    for (const json::value& d : golden.at("shape").as_array())
      shape.push_back(d.to_number<int64_t>());
    EXPECT_EQ(t.shape, shape) << where;
    ASSERT_EQ(static_cast<int64_t>(t.values.size()), t.NumElements()) << where;
    double sum = 0, sumsq = 0, wsum = 0;
    for (size_t i = 0; i < t.values.size(); ++i) {
      const double v = t.values[i];
      sum += v;
      sumsq += v * v;
      wsum += v * static_cast<double>(i % 13 + 1);
    }
    const double tol = 1e-9 * static_cast<double>(t.values.size()) + 1e-9;
    EXPECT_NEAR(sum, Number(golden.at("sum")), tol * 14) << where;
    EXPECT_NEAR(sumsq, Number(golden.at("sumsq")), tol) << where;
    EXPECT_NEAR(wsum, Number(golden.at("wsum")), tol * 14 * 13) << where;
  }
  for (const auto& [key, t] : part.tensors) {
    EXPECT_TRUE(want.contains(key)) << name << " " << key << " unexpected";
  }
}

void CheckGolden(const std::string& family) {
  const json::value golden = ReadJson(TestData(family + ".golden.json"));
  Result<LdmCheckpoint> ckpt = LoadLdmCheckpoint(TestData(family + ".safetensors"));
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  EXPECT_EQ(SdFamilyName(ckpt->family), golden.at("family").as_string());
  EXPECT_EQ(ckpt->inpainting, golden.at("inpainting").as_bool());
  EXPECT_EQ(ckpt->prediction_type, golden.at("prediction_type").as_string());
  std::vector<std::string> dropped;
  for (const json::value& d : golden.at("dropped").as_array()) {
    dropped.emplace_back(d.as_string());
  }
  EXPECT_EQ(ckpt->dropped, dropped);

  const json::object& tensors = golden.at("tensors").as_object();
  ExpectTensorsMatch(ckpt->unet, tensors.at("unet").as_object(), "unet");
  ExpectTensorsMatch(ckpt->vae, tensors.at("vae").as_object(), "vae");
  ExpectTensorsMatch(ckpt->text_encoder, tensors.at("text_encoder").as_object(), "text_encoder");
  if (tensors.contains("text_encoder_2")) {
    ExpectTensorsMatch(ckpt->text_encoder_2, tensors.at("text_encoder_2").as_object(),
                       "text_encoder_2");
  } else {
    EXPECT_TRUE(ckpt->text_encoder_2.tensors.empty());
  }

  const json::object& configs = golden.at("configs").as_object();
  for (const auto& [part, want] : configs) {
    auto it = ckpt->config_json.find(std::string(part));
    ASSERT_NE(it, ckpt->config_json.end()) << part;
    ExpectSameJson(json::parse(it->second), want, std::string(part));
  }
  EXPECT_EQ(ckpt->config_json.size(), configs.size() + 1);  // + model_index
}

TEST(LdmCheckpoint, Sd1MatchesDiffusersGolden) { CheckGolden("sd1"); }
TEST(LdmCheckpoint, Sd2MatchesDiffusersGolden) { CheckGolden("sd2"); }
TEST(LdmCheckpoint, SdxlMatchesDiffusersGolden) { CheckGolden("sdxl"); }

TEST(LdmCheckpoint, NativeSizesFollowTheFamily) {
  for (const auto& [family, size] :
       std::vector<std::pair<std::string, int>>{{"sd1", 512}, {"sd2", 768}, {"sdxl", 1024}}) {
    Result<LdmCheckpoint> ckpt = LoadLdmCheckpoint(TestData(family + ".safetensors"));
    ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
    EXPECT_EQ(ckpt->image_size, size) << family;
    EXPECT_EQ(ckpt->vae_config.sample_size, size) << family;
  }
}

TEST(LdmCheckpoint, ModelIndexNamesThePartsOfTheFamily) {
  Result<LdmCheckpoint> xl = LoadLdmCheckpoint(TestData("sdxl.safetensors"));
  ASSERT_TRUE(xl.ok()) << xl.status().ToString();
  json::value index = json::parse(xl->config_json.at("model_index"));
  EXPECT_EQ(index.at("_class_name"), "StableDiffusionXLPipeline");
  EXPECT_EQ(index.at("text_encoder_2").as_array()[1], "CLIPTextModelWithProjection");
  EXPECT_EQ(index.at("scheduler").as_array()[1], "EulerDiscreteScheduler");
  EXPECT_EQ(index.at("force_zeros_for_empty_prompt"), true);
  Result<LdmCheckpoint> sd1 = LoadLdmCheckpoint(TestData("sd1.safetensors"));
  ASSERT_TRUE(sd1.ok()) << sd1.status().ToString();
  index = json::parse(sd1->config_json.at("model_index"));
  EXPECT_EQ(index.at("_class_name"), "StableDiffusionPipeline");
  EXPECT_EQ(index.at("scheduler").as_array()[1], "PNDMScheduler");
  EXPECT_FALSE(index.as_object().contains("text_encoder_2"));
}

}  // namespace
}  // namespace stipple
