#include "engine/schedulers.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace stipple {
namespace {

// A schedule small enough to check by hand: T = 10, β_t = 0.1 + 0.01 t, no x0 clipping.
SchedulerConfig TenSteps() {
  SchedulerConfig c;
  c.num_train_timesteps = 10;
  c.beta_schedule = "linear";
  c.beta_start = 0.1;
  c.beta_end = 0.19;
  c.clip_sample = false;
  return c;
}

NoiseSchedule TenStepSchedule() { return NoiseSchedule::Make({10, "linear", 0.1, 0.19}).value(); }

SamplingPlan PlanFor(const char* name, int steps, const SchedulerConfig& config = TenSteps()) {
  return MakeScheduler(name, config).value()->Plan(steps).value();
}

std::vector<double> Timesteps(const SamplingPlan& plan) {
  std::vector<double> t;
  for (const SchedulerStep& s : plan.steps) t.push_back(s.timestep);
  return t;
}

struct StepResult {
  std::vector<float> x0, next;
};

// x = [1, -0.5], eps = [0.5, 0.25], noise = [0.3, -1], prev_x0 = [0.2, 0.1].
StepResult Apply(const SchedulerStep& step) {
  const std::vector<float> x = {1.0f, -0.5f}, eps = {0.5f, 0.25f}, noise = {0.3f, -1.0f},
                           prev = {0.2f, 0.1f};
  StepResult r{std::vector<float>(2), std::vector<float>(2)};
  ApplySchedulerStep(step, x, eps, prev, noise, r.x0, r.next);
  return r;
}

void ExpectNear(const std::vector<float>& got, std::vector<double> want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-6) << i;
}

TEST(NoiseSchedule, LinearBetasAndTheirCumulativeProduct) {
  NoiseSchedule s = TenStepSchedule();
  EXPECT_NEAR(s.betas[0], 0.1, 1e-12);
  EXPECT_NEAR(s.betas[3], 0.13, 1e-12);
  EXPECT_NEAR(s.betas[9], 0.19, 1e-12);
  EXPECT_NEAR(s.alphas_cumprod[0], 0.9, 1e-12);
  EXPECT_NEAR(s.alphas_cumprod[1], 0.9 * 0.89, 1e-12);
  EXPECT_NEAR(s.alphas_cumprod[2], 0.9 * 0.89 * 0.88, 1e-12);
}

TEST(NoiseSchedule, ScaledLinearInterpolatesSquareRoots) {
  NoiseSchedule s = NoiseSchedule::Make({3, "scaled_linear", 0.01, 0.04}).value();
  EXPECT_NEAR(s.betas[0], 0.01, 1e-12);
  EXPECT_NEAR(s.betas[1], 0.0225, 1e-12);  // ((0.1 + 0.2) / 2)²
  EXPECT_NEAR(s.betas[2], 0.04, 1e-12);
}

TEST(NoiseSchedule, UnknownBetaScheduleIsInvalidArgument) {
  EXPECT_EQ(NoiseSchedule::Make({10, "cosine", 0.1, 0.2}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(Schedulers, DdimAndDdpmUseLeadingTimesteps) {
  EXPECT_EQ(Timesteps(PlanFor("ddim", 5)), (std::vector<double>{8, 6, 4, 2, 0}));
  EXPECT_EQ(Timesteps(PlanFor("ddpm", 3)), (std::vector<double>{6, 3, 0}));
  SchedulerConfig big;
  big.clip_sample = false;  // T = 1000, linear 0.0001..0.02: DDIM's defaults
  std::vector<double> t = Timesteps(PlanFor("ddim", 20, big));
  EXPECT_EQ(t.front(), 950);
  EXPECT_EQ(t[1], 900);
  EXPECT_EQ(t.back(), 0);
}

TEST(Schedulers, EulerAncestralUsesLinspaceTimestepsAndStartsAtTheLargestSigma) {
  SamplingPlan plan = PlanFor("euler_a", 3);
  EXPECT_EQ(Timesteps(plan), (std::vector<double>{9, 4.5, 0}));
  EXPECT_NEAR(plan.init_noise_scale, 1.9537578023868931, 1e-9);  // √((1-ᾱ_9)/ᾱ_9)
  EXPECT_NEAR(plan.steps[0].input_scale, 1 / std::sqrt(1.9537578023868931 * 1.9537578023868931 + 1),
              1e-9);
}

TEST(Schedulers, DpmSolverUsesRoundedLinspaceTimesteps) {
  EXPECT_EQ(Timesteps(PlanFor("dpmpp_2m", 3)), (std::vector<double>{9, 6, 3}));
  EXPECT_EQ(Timesteps(PlanFor("dpmpp_2m", 4)), (std::vector<double>{9, 7, 4, 2}));  // 6.75, 4.5
}

TEST(Schedulers, DdimStepMatchesTheClosedForm) {
  // t = 5 → 0: x0 = (x - √(1-ᾱ5) eps)/√ᾱ5; next = √ᾱ0 x0 + √(1-ᾱ0) eps.
  StepResult r = Apply(PlanFor("ddim", 2).steps[0]);
  ExpectNear(r.x0, {0.9388721587301851, -1.0241287941888522});
  ExpectNear(r.next, {1.0488062190003764, -0.8925169405953666});
}

TEST(Schedulers, DdimLastStepReturnsTheCleanEstimate) {
  SamplingPlan plan = PlanFor("ddim", 2);
  StepResult r = Apply(plan.steps[1]);
  ExpectNear(r.next, {r.x0[0], r.x0[1]});
}

TEST(Schedulers, DdpmStepMatchesThePosteriorMeanPlusNoise) {
  StepResult r = Apply(PlanFor("ddpm", 2).steps[0]);
  ExpectNear(r.x0, {0.9388721587301851, -1.0241287941888522});
  ExpectNear(r.next, {1.0286849703683798, -1.2494355211795383});
}

TEST(Schedulers, DdpmAddsNoNoiseAtTheLastStep) {
  EXPECT_EQ(PlanFor("ddpm", 2).steps[1].next_from_noise, 0);
}

TEST(Schedulers, EulerAncestralStepMatchesTheClosedForm) {
  SchedulerStep step = PlanFor("euler_a", 3).steps[1];  // σ 1.0280 → 0.3333
  EXPECT_NEAR(step.input_scale, 0.6972732313894473, 1e-9);
  StepResult r = Apply(step);
  ExpectNear(r.x0, {0.4859938621559723, -0.7570030689220139});
  ExpectNear(r.next, {0.6346327168060694, -1.0453059761874386});
}

TEST(Schedulers, DpmSolverFirstStepIsFirstOrder) {
  SchedulerStep step = PlanFor("dpmpp_2m", 3).steps[0];
  EXPECT_EQ(step.next_from_prev_x0, 0);
  StepResult r = Apply(step);
  ExpectNear(r.x0, {1.2179262269187652, -1.5858420146528294});
  ExpectNear(r.next, {1.1421634334529434, -0.7757443653999422});
}

TEST(Schedulers, DpmSolverSecondStepUsesThePreviousEstimate) {
  StepResult r = Apply(PlanFor("dpmpp_2m", 3).steps[1]);
  ExpectNear(r.x0, {0.9862548649564767, -1.1364854457094045});
  ExpectNear(r.next, {1.2194541847245133, -0.9486525375493579});
}

TEST(Schedulers, DpmSolverLastStepLandsOnTheCleanEstimate) {
  StepResult r = Apply(PlanFor("dpmpp_2m", 3).steps[2]);
  ExpectNear(r.x0, {0.8799030775294278, -0.8370245921934526});
  ExpectNear(r.next, {0.8799030775294278, -0.8370245921934526});
}

TEST(Schedulers, UnknownNameIsInvalidArgument) {
  EXPECT_EQ(MakeScheduler("lms", TenSteps()).status().code(), StatusCode::kInvalidArgument);
}

TEST(Schedulers, StepsOutOfRangeAreInvalidArgument) {
  auto scheduler = MakeScheduler("ddim", TenSteps()).value();
  EXPECT_EQ(scheduler->Plan(0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(scheduler->Plan(11).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace stipple

namespace stipple {
namespace {

// runwayml/stable-diffusion-v1-5's scheduler config.
SchedulerConfig Sd15() {
  SchedulerConfig c;
  c.class_name = "PNDMScheduler";
  c.default_scheduler = "ddim";
  c.num_train_timesteps = 1000;
  c.beta_schedule = "scaled_linear";
  c.beta_start = 0.00085;
  c.beta_end = 0.012;
  c.set_alpha_to_one = false;
  c.steps_offset = 1;
  c.clip_sample = false;
  return c;
}

Result<SamplingPlan> TryPlan(const char* name, int steps, const SchedulerConfig& config) {
  Result<std::unique_ptr<Scheduler>> s = MakeScheduler(name, config);
  if (!s.ok()) return s.status();
  return (*s)->Plan(steps);
}

TEST(Schedulers, SixNames) {
  EXPECT_EQ(SchedulerNames(),
            (std::vector<std::string>{"ddim", "ddpm", "euler", "euler_a", "dpmpp_2m", "lcm"}));
  for (const std::string& name : SchedulerNames()) {
    EXPECT_EQ(MakeScheduler(name, Sd15()).value()->name(), name);
  }
}

TEST(Schedulers, UnsetFieldsTakeEachSchedulersOwnDefault) {
  // SD 1.5's file names no timestep_spacing: DDIM's default is leading, Euler's linspace.
  EXPECT_EQ(Timesteps(PlanFor("ddim", 4, Sd15())), (std::vector<double>{751, 501, 251, 1}));
  EXPECT_EQ(Timesteps(PlanFor("euler", 4, Sd15())), (std::vector<double>{999, 666, 333, 0}));
  SchedulerConfig trailing = Sd15();
  trailing.timestep_spacing = "trailing";
  EXPECT_EQ(Timesteps(PlanFor("euler", 4, trailing)), (std::vector<double>{999, 749, 499, 249}));
  EXPECT_EQ(Timesteps(PlanFor("ddim", 1, trailing)), (std::vector<double>{999}));
}

TEST(Schedulers, EveryNameRunsOneToFourSteps) {
  for (const std::string& name : SchedulerNames()) {
    for (int steps = 1; steps <= 4; ++steps) {
      Result<SamplingPlan> plan = TryPlan(name.c_str(), steps, Sd15());
      ASSERT_TRUE(plan.ok()) << name << " " << steps << ": " << plan.status().ToString();
      EXPECT_EQ(plan->steps.size(), static_cast<size_t>(steps));
    }
  }
}

TEST(Schedulers, TrailingSpacingNeverAddsAStep) {
  // numpy gives 62 values for arange(1000, 0, -1000/61); diffusers then runs timestep -1.
  SchedulerConfig c = Sd15();
  c.timestep_spacing = "trailing";
  for (const char* name : {"ddim", "euler", "dpmpp_2m"}) {
    std::vector<double> t = Timesteps(PlanFor(name, 61, c));
    ASSERT_EQ(t.size(), 61u) << name;
    EXPECT_EQ(t.front(), 999) << name;
    EXPECT_GE(t.back(), 0) << name;
  }
}

TEST(Schedulers, DrawNoiseIsWhenDiffusersDraws) {
  auto draws = [](const SamplingPlan& plan) {
    std::vector<bool> d;
    for (const SchedulerStep& s : plan.steps) d.push_back(s.draw_noise);
    return d;
  };
  const std::vector<bool> all(3, true), none(3, false), but_last = {true, true, false};
  EXPECT_EQ(draws(PlanFor("ddim", 3, Sd15())), none);
  EXPECT_EQ(draws(PlanFor("dpmpp_2m", 3, Sd15())), none);
  EXPECT_EQ(draws(PlanFor("euler", 3, Sd15())), all);  // drawn, unused
  EXPECT_EQ(draws(PlanFor("euler_a", 3, Sd15())), all);
  EXPECT_EQ(draws(PlanFor("lcm", 3, Sd15())), but_last);
  // DDPM draws while t > 0: with steps_offset 1 the last step (t = 1) draws too, a vanishing
  // amount of it; at t = 0 it does not.
  SamplingPlan ddpm = PlanFor("ddpm", 3, Sd15());
  EXPECT_EQ(draws(ddpm), all);
  EXPECT_LT(ddpm.steps.back().next_from_noise, 1e-9);
  EXPECT_EQ(draws(PlanFor("ddpm", 2)), (std::vector<bool>{true, false}));
  for (const SchedulerStep& s : PlanFor("euler", 3, Sd15()).steps) EXPECT_EQ(s.next_from_noise, 0);
}

TEST(Schedulers, ClipSampleWithThresholdingClipsEverySchedulerWithAnEstimateToClip) {
  SchedulerConfig on;
  on.class_name = "DDIMScheduler";
  on.default_scheduler = "ddim";
  on.clip_sample = true;
  on.thresholding = true;
  on.sample_max_value = 1.0;
  SchedulerConfig off = on;
  off.clip_sample = false;
  off.thresholding = false;
  for (const std::string& name : SchedulerNames()) {
    const bool clips = name != "euler" && name != "euler_a";
    EXPECT_EQ(PlanFor(name.c_str(), 4, on).steps[0].clip_x0, clips ? 1 : 0) << name;
    EXPECT_EQ(PlanFor(name.c_str(), 4, off).steps[0].clip_x0, 0) << name;
  }
}

TEST(Schedulers, ClipAndConsistencyScalingsApplyToTheEstimate) {
  SchedulerStep step;
  step.x0_from_x = 2;
  step.clip_x0 = 1.5;
  step.c_skip = 0.25;
  step.c_out = 0.5;
  step.next_from_x0 = 1;
  // x = [1, -0.5]: raw x0 = [2, -1] → clamped [1.5, -1] → 0.5·x0 + 0.25·x = [1, -0.625].
  StepResult r = Apply(step);
  ExpectNear(r.x0, {1.0, -0.625});
  ExpectNear(r.next, {1.0, -0.625});
}

TEST(Schedulers, ConfigsASchedulerCannotRunAreInvalidArgument) {
  SchedulerConfig sample = Sd15();
  sample.prediction_type = "sample";
  EXPECT_EQ(MakeScheduler("euler_a", sample).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(MakeScheduler("euler", sample).ok());

  SchedulerConfig lambda = Sd15();
  lambda.lambda_min_clipped = -5.1;  // below every λ of SD's schedule: clips nothing
  EXPECT_TRUE(MakeScheduler("dpmpp_2m", lambda).ok());
  lambda.lambda_min_clipped = 0;
  EXPECT_EQ(MakeScheduler("dpmpp_2m", lambda).status().code(), StatusCode::kInvalidArgument);

  SchedulerConfig bad_betas = Sd15();
  bad_betas.beta_end = 0.0001;
  EXPECT_EQ(MakeScheduler("ddim", bad_betas).status().code(), StatusCode::kInvalidArgument);
}

TEST(Schedulers, StepCountsAConfigCannotRunAreInvalidArgument) {
  SchedulerConfig lcm = Sd15();
  lcm.original_inference_steps = 8;
  EXPECT_TRUE(TryPlan("lcm", 8, lcm).ok());
  EXPECT_EQ(TryPlan("lcm", 9, lcm).status().code(), StatusCode::kInvalidArgument);
  lcm.original_inference_steps = 2000;
  EXPECT_EQ(TryPlan("lcm", 4, lcm).status().code(), StatusCode::kInvalidArgument);
  // leading, 1000 steps, steps_offset 1: the first timestep would be 1000.
  EXPECT_EQ(TryPlan("ddim", 1000, Sd15()).status().code(), StatusCode::kInvalidArgument);
  for (const std::string& name : SchedulerNames()) {
    EXPECT_EQ(TryPlan(name.c_str(), 0, Sd15()).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(TryPlan(name.c_str(), 1001, Sd15()).status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(Schedulers, PlanFromIsTheTailOfThePlan) {
  for (const char* name : {"ddim", "ddpm", "euler", "euler_a", "lcm"}) {
    SchedulerConfig config = TenSteps();
    config.original_inference_steps = 10;
    const SamplingPlan full = PlanFor(name, 4, config);
    const SamplingPlan tail = MakeScheduler(name, config).value()->PlanFrom(4, 2).value();
    ASSERT_EQ(tail.steps.size(), 2u) << name;
    for (size_t i = 0; i < 2; ++i) {
      EXPECT_EQ(tail.steps[i].timestep, full.steps[i + 2].timestep) << name;
      EXPECT_EQ(tail.steps[i].next_from_x, full.steps[i + 2].next_from_x) << name;
      EXPECT_EQ(tail.steps[i].renoise_noise, full.steps[i + 2].renoise_noise) << name;
    }
    if (!full.sigmas.empty()) {
      EXPECT_EQ(tail.sigmas, std::vector<double>(full.sigmas.begin() + 2, full.sigmas.end()));
    }
  }
}

TEST(Schedulers, PlanFromRestartsTheMultistepSolverAtFirstOrder) {
  const SamplingPlan full = PlanFor("dpmpp_2m", 3);
  const SamplingPlan tail = MakeScheduler("dpmpp_2m", TenSteps()).value()->PlanFrom(3, 1).value();
  ASSERT_EQ(tail.steps.size(), 2u);
  EXPECT_NE(full.steps[1].next_from_prev_x0, 0);
  EXPECT_EQ(tail.steps[0].next_from_prev_x0, 0);
  EXPECT_EQ(tail.steps[0].timestep, full.steps[1].timestep);
}

TEST(Schedulers, RenoiseIsAddNoiseAtTheStepsTimestep) {
  const NoiseSchedule schedule = TenStepSchedule();
  for (const char* name : {"ddim", "ddpm", "lcm"}) {
    SchedulerConfig config = TenSteps();
    config.original_inference_steps = 10;
    for (const SchedulerStep& step : PlanFor(name, 3, config).steps) {
      const double a = schedule.alphas_cumprod[static_cast<int>(step.timestep)];
      EXPECT_NEAR(step.renoise_x0, std::sqrt(a), 1e-12) << name;
      EXPECT_NEAR(step.renoise_noise, std::sqrt(1 - a), 1e-12) << name;
    }
  }
  const SamplingPlan euler = PlanFor("euler", 3);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(euler.steps[i].renoise_x0, 1);
    EXPECT_EQ(euler.steps[i].renoise_noise, euler.sigmas[i]);
  }
  const SamplingPlan dpm = PlanFor("dpmpp_2m", 3);
  for (size_t i = 0; i < 3; ++i) {
    const double sigma = dpm.sigmas[i], alpha = 1 / std::sqrt(sigma * sigma + 1);
    EXPECT_NEAR(dpm.steps[i].renoise_x0, alpha, 1e-12);
    EXPECT_NEAR(dpm.steps[i].renoise_noise, sigma * alpha, 1e-12);
  }
}

TEST(Schedulers, PlanFromOutsideTheStepsIsInvalidArgument) {
  auto scheduler = MakeScheduler("euler", TenSteps()).value();
  EXPECT_EQ(scheduler->PlanFrom(4, 4).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(scheduler->PlanFrom(4, -1).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace stipple
