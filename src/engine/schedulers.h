// Diffusion schedulers — DDIM, DDPM, Euler, Euler ancestral, DPM-Solver++ 2M and LCM — as
// diffusers 0.27.2 defines them (DDIMScheduler with η = 0, DDPMScheduler,
// EulerDiscreteScheduler without churn, EulerAncestralDiscreteScheduler,
// DPMSolverMultistepScheduler, LCMScheduler), configured by a SchedulerConfig
// (scheduler_config.h): any model runs any of them with its own schedule settings.
//
// Every step of these samplers is elementwise and, but for the optional clamp of the x0
// estimate, linear, so a scheduler turns the config and a step count into a SamplingPlan of
// per-step scalar coefficients. The plan is torch-free and tested against diffusers' own
// numbers (testdata/schedulers); the pipeline applies it to tensors, ApplySchedulerStep to
// float vectors (the reference).
//
// How a pipeline runs a plan, for each image (x, out, x0, prev_x0, noise elementwise):
//   x       = init_noise_scale · (a standard normal draw from the image's generator)
//   for each step (in order):
//     model input = input_scale · x, at timestep `timestep` (a float: Euler's interpolated and
//                   Karras timesteps are fractional; the others are integers)
//     out     = the model's output (classifier-free guidance applied to it as it comes:
//               ε, v or x0 per prediction_type — the coefficients below turn it into x0)
//     x0      = x0_from_x · x + x0_from_out · out           the clean-image estimate
//     x0      = clamp(x0, −clip_x0, clip_x0)                 only when clip_x0 > 0
//     x0      = c_out · x0 + c_skip · x                      (LCM's consistency output; else 1, 0)
//     noise   = a standard normal draw of x's shape from the image's generator, only when
//               draw_noise — which is exactly when diffusers draws in that step (DDPM: t > 0;
//               Euler: every step, the draw unused; Euler ancestral and SDE DPM-Solver++: every
//               step; LCM: every step but the last), so the generator stays in lockstep with
//               diffusers' even when next_from_noise is 0
//     next    = next_from_x · x + next_from_out · out + next_from_x0 · x0
//               + next_from_prev_x0 · prev_x0 + next_from_noise · noise
//     prev_x0 = x0 (zero before the first step); x = next
//   The image is the last x. x0 is also the preview (LCM: diffusers' `denoised`).
//
// Image-to-image (diffusers' img2img and inpainting pipelines) runs the last steps of the same
// schedule: PlanFrom(steps, begin) is steps[begin:] of Plan(steps), as diffusers runs them after
// set_begin_index(begin) (the multistep solver restarts at first order), and each step carries
// diffusers' add_noise at its timestep: noised = renoise_x0 · x0 + renoise_noise · ε (DDIM, DDPM,
// LCM: √ᾱ_t and √(1-ᾱ_t); Euler, Euler ancestral: 1 and σ; DPM-Solver: α and σ·α, α = 1/√(σ²+1)).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/scheduler_config.h"

namespace stipple {

// The training noise schedule (a scheduler config's num_train_timesteps, beta_schedule,
// beta_start, beta_end).
struct NoiseScheduleConfig {
  int train_timesteps = 1000;
  std::string beta_schedule = "linear";  // "linear" | "scaled_linear"
  double beta_start = 0.0001;
  double beta_end = 0.02;
};

// betas and alphas_cumprod (ᾱ_t = Π_{s<=t} (1 - β_s)) for t = 0..train_timesteps-1, in double.
// linear: β = linspace(start, end); scaled_linear: β = linspace(√start, √end)².
struct NoiseSchedule {
  std::vector<double> betas;
  std::vector<double> alphas_cumprod;

  static Result<NoiseSchedule> Make(const NoiseScheduleConfig& config);
  int train_timesteps() const { return static_cast<int>(betas.size()); }
};

struct SchedulerStep {
  double timestep = 0;  // what the model is told, as diffusers passes it
  double input_scale = 1;
  double x0_from_x = 0, x0_from_out = 0;
  double clip_x0 = 0;  // > 0: clamp the x0 estimate to ±clip_x0
  double c_skip = 0, c_out = 1;
  double next_from_x = 0, next_from_out = 0, next_from_x0 = 0, next_from_prev_x0 = 0;
  double next_from_noise = 0;
  bool draw_noise = false;
  double renoise_x0 = 1, renoise_noise = 0;  // add_noise at `timestep` (see the file comment)
};

struct SamplingPlan {
  double init_noise_scale = 1;  // diffusers' init_noise_sigma
  // euler, euler_a and dpmpp_2m: diffusers' `sigmas` (one per step of this plan, then the final
  // one); empty for the others.
  std::vector<double> sigmas;
  std::vector<SchedulerStep> steps;
};

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual std::string_view name() const = 0;
  // The plan for `steps` inference steps: exactly `steps` steps. kInvalidArgument when the
  // count does not fit the config (below 1, above num_train_timesteps, LCM above
  // original_inference_steps, a timestep that steps_offset pushes past the schedule).
  Result<SamplingPlan> Plan(int steps) const { return PlanFrom(steps, 0); }
  // The steps begin..steps-1 of the `steps`-step plan (see the file comment); kInvalidArgument
  // as Plan, or when begin is outside 0..steps-1.
  virtual Result<SamplingPlan> PlanFrom(int steps, int begin) const = 0;
};

// The scheduler names: "ddim", "ddpm", "euler", "euler_a", "dpmpp_2m", "lcm".
const std::vector<std::string>& SchedulerNames();

// `name` configured by `config` (unset fields at that scheduler's diffusers default).
// kInvalidArgument for an unknown name, a config the scheduler cannot run (euler_a with
// prediction_type "sample", a bad noise schedule) or a lambda_min_clipped that would clip.
Result<std::unique_ptr<Scheduler>> MakeScheduler(std::string_view name,
                                                 const SchedulerConfig& config);

// The reference application of one step to float vectors (all the same length; prev_x0 may
// be empty when next_from_prev_x0 is 0, noise when next_from_noise is 0). Writes x0 and next.
void ApplySchedulerStep(const SchedulerStep& step, std::span<const float> x,
                        std::span<const float> out, std::span<const float> prev_x0,
                        std::span<const float> noise, std::span<float> x0, std::span<float> next);

}  // namespace stipple
