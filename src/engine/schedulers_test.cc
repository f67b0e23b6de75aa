#include "engine/schedulers.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace stipple {
namespace {

// A schedule small enough to check by hand: T = 10, β_t = 0.1 + 0.01 t.
NoiseSchedule TenSteps() {
  NoiseScheduleConfig c;
  c.train_timesteps = 10;
  c.beta_schedule = "linear";
  c.beta_start = 0.1;
  c.beta_end = 0.19;
  return NoiseSchedule::Make(c).value();
}

SamplingPlan PlanFor(const char* name, int steps, NoiseSchedule schedule = TenSteps()) {
  return MakeScheduler(name, std::move(schedule)).value()->Plan(steps).value();
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
  NoiseSchedule s = TenSteps();
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
  NoiseSchedule big = NoiseSchedule::Make({1000, "linear", 0.0001, 0.02}).value();
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
