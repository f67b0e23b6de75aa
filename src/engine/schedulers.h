// Diffusion schedulers (DDPM, DDIM, Euler ancestral, DPM-Solver++ 2M) for epsilon-predicting
// models, following the definitions of Hugging Face diffusers with their default settings
// (no x0 clipping, as in Stable Diffusion's scheduler configs).
//
// Every step of these samplers is an elementwise linear combination, so a scheduler turns the
// noise schedule and the step count into a SamplingPlan of per-step scalar coefficients. The plan
// is torch-free and tested against values computed by hand; the pipeline applies it to tensors,
// ApplySchedulerStep to float vectors (the reference, used by the tests).
//
// Per step, with x the current sample, eps the (guided) model output, noise a fresh standard
// normal draw (only when next_from_noise != 0) and prev_x0 the previous step's x0 (zero at the
// first step):
//   model input = input_scale * x, at timestep `timestep`
//   x0          = x0_from_x * x + x0_from_eps * eps          (the current clean-image estimate)
//   next        = next_from_x * x + next_from_eps * eps + next_from_x0 * x0
//                 + next_from_prev_x0 * prev_x0 + next_from_noise * noise
// and the first sample is init_noise_scale * standard normal noise.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/model_config.h"

namespace stipple {

// betas and alphas_cumprod (ᾱ_t = Π_{s<=t} (1 - β_s)) for t = 0..train_timesteps-1, in double.
// linear: β = linspace(start, end); scaled_linear: β = linspace(√start, √end)².
struct NoiseSchedule {
  std::vector<double> betas;
  std::vector<double> alphas_cumprod;

  static Result<NoiseSchedule> Make(const NoiseScheduleConfig& config);
  int train_timesteps() const { return static_cast<int>(betas.size()); }
};

struct SchedulerStep {
  double timestep = 0;  // what the model is told (fractional for Euler ancestral)
  double input_scale = 1;
  double x0_from_x = 0, x0_from_eps = 0;
  double next_from_x = 0, next_from_eps = 0, next_from_x0 = 0, next_from_prev_x0 = 0;
  double next_from_noise = 0;
};

struct SamplingPlan {
  double init_noise_scale = 1;
  std::vector<SchedulerStep> steps;
};

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual std::string_view name() const = 0;
  // The plan for `steps` inference steps (1..train_timesteps); kInvalidArgument otherwise.
  virtual Result<SamplingPlan> Plan(int steps) const = 0;
};

// "ddpm" | "ddim" | "euler_a" | "dpmpp_2m"; kInvalidArgument for another name.
Result<std::unique_ptr<Scheduler>> MakeScheduler(std::string_view name, NoiseSchedule schedule);

// The reference application of one step to float vectors (all the same length; prev_x0 and
// noise may be empty when their coefficients are zero). Writes x0 and next.
void ApplySchedulerStep(const SchedulerStep& step, std::span<const float> x,
                        std::span<const float> eps, std::span<const float> prev_x0,
                        std::span<const float> noise, std::span<float> x0, std::span<float> next);

}  // namespace stipple
