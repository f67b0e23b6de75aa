#include "engine/scheduler_config.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace stipple {
namespace {

constexpr const char* kFile = "scheduler/scheduler_config.json";

// runwayml/stable-diffusion-v1-5's scheduler/scheduler_config.json.
constexpr const char* kSd15 = R"({
  "_class_name": "PNDMScheduler",
  "_diffusers_version": "0.6.0",
  "beta_end": 0.012,
  "beta_schedule": "scaled_linear",
  "beta_start": 0.00085,
  "num_train_timesteps": 1000,
  "set_alpha_to_one": false,
  "skip_prk_steps": true,
  "steps_offset": 1,
  "trained_betas": null,
  "clip_sample": false
})";

Result<SchedulerConfig> Parse(const std::string& json) { return ParseSchedulerConfig(json, kFile); }

// The SD 1.5 file with one more field.
std::string Sd15With(const std::string& field) {
  std::string json = kSd15;
  return json.insert(json.rfind('}'), ", " + field);
}

// Expects kInvalidArgument whose message names the file and `field`, and a FieldError for it.
void ExpectRejected(const std::string& json, const std::string& field) {
  Result<SchedulerConfig> c = Parse(json);
  ASSERT_FALSE(c.ok()) << json;
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find(kFile), std::string::npos) << c.status().message();
  EXPECT_NE(c.status().message().find(field), std::string::npos) << c.status().message();
  bool named = false;
  for (const FieldError& e : c.status().field_errors()) named |= e.field == field;
  EXPECT_TRUE(named) << c.status().ToString();
}

TEST(SchedulerConfig, ReadsStableDiffusion15sFile) {
  Result<SchedulerConfig> c = Parse(kSd15);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->class_name, "PNDMScheduler");
  EXPECT_EQ(c->default_scheduler, "ddim");
  EXPECT_EQ(c->num_train_timesteps, 1000);
  EXPECT_EQ(c->beta_schedule, "scaled_linear");
  EXPECT_DOUBLE_EQ(*c->beta_start, 0.00085);
  EXPECT_DOUBLE_EQ(*c->beta_end, 0.012);
  EXPECT_EQ(c->set_alpha_to_one, false);
  EXPECT_EQ(c->steps_offset, 1);
  EXPECT_EQ(c->clip_sample, false);
  // Not in the file: left to each scheduler's default.
  EXPECT_FALSE(c->timestep_spacing.has_value());
  EXPECT_FALSE(c->prediction_type.has_value());
  EXPECT_FALSE(c->use_karras_sigmas.has_value());
}

TEST(SchedulerConfig, EachClassHasItsDefaultScheduler) {
  const std::pair<const char*, const char*> classes[] = {
      {"PNDMScheduler", "ddim"},
      {"DDIMScheduler", "ddim"},
      {"DDPMScheduler", "ddpm"},
      {"EulerDiscreteScheduler", "euler"},
      {"EulerAncestralDiscreteScheduler", "euler_a"},
      {"DPMSolverMultistepScheduler", "dpmpp_2m"},
      {"LCMScheduler", "lcm"}};
  for (const auto& [class_name, scheduler] : classes) {
    Result<SchedulerConfig> c = Parse(std::string(R"({"_class_name": ")") + class_name + "\"}");
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(c->default_scheduler, scheduler) << class_name;
  }
}

TEST(SchedulerConfig, ReadsTheFieldsOfEveryClass) {
  Result<SchedulerConfig> c = Parse(R"({
    "_class_name": "DPMSolverMultistepScheduler", "_use_default_values": ["x"],
    "prediction_type": "v_prediction", "timestep_spacing": "trailing", "clip_sample_range": 2.5,
    "thresholding": true, "sample_max_value": 1.0, "dynamic_thresholding_ratio": 0.9,
    "use_karras_sigmas": true, "sigma_min": 0.03, "sigma_max": null,
    "variance_type": "fixed_large", "solver_order": 1, "algorithm_type": "sde-dpmsolver++",
    "solver_type": "heun", "lower_order_final": false, "euler_at_final": true,
    "final_sigmas_type": "sigma_min", "lambda_min_clipped": -Infinity,
    "original_inference_steps": 8, "timestep_scaling": 5, "interpolation_type": "linear",
    "timestep_type": "discrete", "rescale_betas_zero_snr": false, "use_lu_lambdas": false})");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->prediction_type, "v_prediction");
  EXPECT_EQ(c->timestep_spacing, "trailing");
  EXPECT_EQ(c->clip_sample_range, 2.5);
  EXPECT_EQ(c->thresholding, true);
  EXPECT_EQ(c->use_karras_sigmas, true);
  EXPECT_EQ(c->sigma_min, 0.03);
  EXPECT_FALSE(c->sigma_max.has_value());
  EXPECT_EQ(c->variance_type, "fixed_large");
  EXPECT_EQ(c->solver_order, 1);
  EXPECT_EQ(c->algorithm_type, "sde-dpmsolver++");
  EXPECT_EQ(c->solver_type, "heun");
  EXPECT_EQ(c->lower_order_final, false);
  EXPECT_EQ(c->euler_at_final, true);
  EXPECT_EQ(c->final_sigmas_type, "sigma_min");
  ASSERT_TRUE(c->lambda_min_clipped.has_value());
  EXPECT_TRUE(std::isinf(*c->lambda_min_clipped) && *c->lambda_min_clipped < 0);
  EXPECT_EQ(c->original_inference_steps, 8);
  EXPECT_EQ(c->timestep_scaling, 5);
}

TEST(SchedulerConfig, NonFiniteTokensInsideStringsAreLeftAlone) {
  Result<SchedulerConfig> c =
      Parse(R"({"_class_name": "DDIMScheduler", "_note": "NaN, \"Infinity\" and -Infinity"})");
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  ExpectRejected(R"({"_class_name": "DDIMScheduler", "beta_start": NaN})", "beta_start");
}

TEST(SchedulerConfig, UnsupportedBetaScheduleNamesTheField) {
  ExpectRejected(Sd15With(R"("beta_schedule": "squaredcos_cap_v2")"), "beta_schedule");
  ExpectRejected(Sd15With(R"("beta_schedule": "sigmoid")"), "beta_schedule");
}

TEST(SchedulerConfig, UnknownFieldsAreErrorsButMetadataIsNot) {
  ExpectRejected(Sd15With(R"("predict_x0": true)"), "predict_x0");
  ExpectRejected(Sd15With(R"("steps_ofset": 1)"), "steps_ofset");
  EXPECT_TRUE(Parse(Sd15With(R"("_name_or_path": "x", "_ignore_files": [])")).ok());
}

TEST(SchedulerConfig, ValuesThatChangeTheComputationUnsupportedAreErrors) {
  const std::pair<const char*, const char*> bad[] = {
      {R"("trained_betas": [0.1, 0.2])", "trained_betas"},
      {R"("rescale_betas_zero_snr": true)", "rescale_betas_zero_snr"},
      {R"("thresholding": true, "sample_max_value": 2.0)", "thresholding"},
      {R"("use_lu_lambdas": true)", "use_lu_lambdas"},
      {R"("interpolation_type": "log_linear")", "interpolation_type"},
      {R"("timestep_type": "continuous")", "timestep_type"},
      {R"("algorithm_type": "dpmsolver")", "algorithm_type"},
      {R"("solver_order": 3)", "solver_order"},
      {R"("solver_type": "bh2")", "solver_type"},
      {R"("variance_type": "learned_range")", "variance_type"},
      {R"("final_sigmas_type": "sigma_max")", "final_sigmas_type"},
      {R"("prediction_type": "original_sample")", "prediction_type"},
      {R"("timestep_spacing": "karras")", "timestep_spacing"},
  };
  for (const auto& [field, name] : bad) ExpectRejected(Sd15With(field), name);
  // The no-op values of the same fields are fine.
  EXPECT_TRUE(Parse(Sd15With(R"("thresholding": true, "sample_max_value": 1.0,
      "rescale_betas_zero_snr": false, "use_lu_lambdas": null, "variance_type": null,
      "interpolation_type": "linear", "timestep_type": "discrete", "solver_order": 2)"))
                  .ok());
}

TEST(SchedulerConfig, WrongTypesAndRangesAreErrors) {
  ExpectRejected(R"({"_class_name": "DDIMScheduler", "num_train_timesteps": "1000"})",
                 "num_train_timesteps");
  ExpectRejected(R"({"_class_name": "DDIMScheduler", "num_train_timesteps": 1})",
                 "num_train_timesteps");
  ExpectRejected(R"({"_class_name": "DDIMScheduler", "steps_offset": -1})", "steps_offset");
  ExpectRejected(R"({"_class_name": "DDIMScheduler", "clip_sample": 1})", "clip_sample");
  ExpectRejected(R"({"_class_name": "DDIMScheduler", "beta_start": 1.5})", "beta_start");
  ExpectRejected(R"({"_class_name": "DDIMScheduler", "beta_start": 0.1, "beta_end": 0.01})",
                 "beta_end");
  ExpectRejected(R"({"_class_name": "DDIMScheduler", "clip_sample_range": 0})",
                 "clip_sample_range");
  ExpectRejected(R"({"_class_name": "LCMScheduler", "original_inference_steps": 0})",
                 "original_inference_steps");
}

TEST(SchedulerConfig, ClassNameIsRequiredAndMustBeKnown) {
  ExpectRejected(R"({"beta_start": 0.001})", "_class_name");
  ExpectRejected(R"({"_class_name": "UniPCMultistepScheduler"})", "_class_name");
  ExpectRejected(R"({"_class_name": 7})", "_class_name");
}

TEST(SchedulerConfig, EveryBadFieldIsReported) {
  Result<SchedulerConfig> c = Parse(Sd15With(R"("beta_schedule": "cosine", "foo": 1)"));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().field_errors().size(), 2u) << c.status().ToString();
}

TEST(SchedulerConfig, NotJsonOrNotAnObjectIsInvalidArgument) {
  for (const char* text : {"{", "[1, 2]", ""}) {
    Result<SchedulerConfig> c = Parse(text);
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_NE(c.status().message().find(kFile), std::string::npos);
  }
}

}  // namespace
}  // namespace stipple
