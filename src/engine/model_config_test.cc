#include "engine/model_config.h"

#include <gtest/gtest.h>

#include <string>

namespace stipple {
namespace {

ModelConfig Sample() {
  ModelConfig c;
  c.name = "tiny";
  c.sizes = {{32, 32}, {16, 16}};
  return c;
}

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

bool HasFieldError(const Status& status, const std::string& field) {
  for (const FieldError& e : status.field_errors()) {
    if (e.field == field) return true;
  }
  return false;
}

TEST(ModelConfig, WrittenJsonParsesBackToTheSameConfig) {
  Result<ModelConfig> c = ParseModelConfig(ModelConfigToJson(Sample()));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->name, "tiny");
  EXPECT_EQ(c->unet.channel_mult, (std::vector<int>{1, 2}));
  EXPECT_EQ(c->unet.attention_levels, (std::vector<int>{1}));
  EXPECT_EQ(c->text_encoder.max_tokens, 16);
  EXPECT_EQ(c->noise.beta_schedule, "linear");
  EXPECT_DOUBLE_EQ(c->noise.beta_start, 0.0001);
  EXPECT_EQ(c->sizes, Sample().sizes);
  EXPECT_EQ(c->weights, "model.safetensors");
}

TEST(ModelConfig, OptionalSwitchesDefaultToOffAndRoundTrip) {
  std::string json = ModelConfigToJson(Sample());
  Result<ModelConfig> off = ParseModelConfig(
      Replace(Replace(json, ",\"pooled_text\":false", ""), ",\"clip_sample\":false", ""));
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_FALSE(off->unet.pooled_text);
  EXPECT_FALSE(off->clip_sample);
  ModelConfig on = Sample();
  on.unet.pooled_text = true;
  on.clip_sample = true;
  Result<ModelConfig> parsed = ParseModelConfig(ModelConfigToJson(on));
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->unet.pooled_text);
  EXPECT_TRUE(parsed->clip_sample);
  Result<ModelConfig> bad =
      ParseModelConfig(Replace(json, "\"clip_sample\":false", "\"clip_sample\":1"));
  EXPECT_TRUE(HasFieldError(bad.status(), "scheduler.clip_sample")) << bad.status().ToString();
}

TEST(ModelConfig, LimitsCarryTheModelsDefaultsAndSizes) {
  ModelConfig c = Sample();
  c.default_steps = 25;
  c.default_scheduler = "euler_a";
  ModelLimits limits = c.Limits();
  EXPECT_EQ(limits.name, "tiny");
  EXPECT_EQ(limits.width, 32);
  EXPECT_EQ(limits.sizes, c.sizes);
  EXPECT_EQ(limits.default_steps, 25);
  EXPECT_EQ(limits.default_scheduler, "euler_a");
  EXPECT_EQ(limits.max_steps, 150);
}

TEST(ModelConfig, BadValueIsNamedByItsDottedKey) {
  Result<ModelConfig> c =
      ParseModelConfig(Replace(ModelConfigToJson(Sample()), "\"heads\":4,", "\"heads\":0,"));
  ASSERT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasFieldError(c.status(), "unet.heads")) << c.status().ToString();
  EXPECT_NE(c.status().message().find("unet.heads"), std::string::npos);
}

TEST(ModelConfig, MissingKeyIsNamed) {
  Result<ModelConfig> c =
      ParseModelConfig(Replace(ModelConfigToJson(Sample()), "\"max_tokens\":16", "\"x\":1"));
  EXPECT_TRUE(HasFieldError(c.status(), "text_encoder.max_tokens")) << c.status().ToString();
  EXPECT_TRUE(HasFieldError(c.status(), "text_encoder.x"));
}

TEST(ModelConfig, UnknownTopLevelKeyIsAnError) {
  std::string json = ModelConfigToJson(Sample());
  json.insert(1, "\"colour\":\"red\",");
  EXPECT_TRUE(HasFieldError(ParseModelConfig(json).status(), "colour"));
}

TEST(ModelConfig, UnknownBetaScheduleIsAnError) {
  Result<ModelConfig> c =
      ParseModelConfig(Replace(ModelConfigToJson(Sample()), "\"linear\"", "\"cosine\""));
  EXPECT_TRUE(HasFieldError(c.status(), "scheduler.beta_schedule")) << c.status().ToString();
}

TEST(ModelConfig, AttentionLevelBeyondTheLevelsIsAnError) {
  Result<ModelConfig> c = ParseModelConfig(
      Replace(ModelConfigToJson(Sample()), "\"attention_levels\":[1]", "\"attention_levels\":[2]"));
  EXPECT_TRUE(HasFieldError(c.status(), "unet.attention_levels")) << c.status().ToString();
}

TEST(ModelConfig, SizeNotDivisibleByTheDownsamplingIsAnError) {
  ModelConfig sample = Sample();
  sample.sizes = {{33, 32}};
  EXPECT_TRUE(HasFieldError(ParseModelConfig(ModelConfigToJson(sample)).status(), "sizes"));
}

TEST(ModelConfig, NotJsonIsInvalidArgument) {
  EXPECT_EQ(ParseModelConfig("{").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseModelConfig("[]").status().code(), StatusCode::kInvalidArgument);
}

TEST(ModelConfig, MissingFileIsNotFound) {
  EXPECT_EQ(LoadModelConfig("/nonexistent/model.json").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace stipple
