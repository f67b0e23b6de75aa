// SchedulerConfig: the noise schedule and sampler settings of a diffusers
// `scheduler/scheduler_config.json` (diffusers 0.27.2).
//
// A field is set exactly when the file has it. Every scheduler (MakeScheduler in schedulers.h)
// reads the fields it knows and takes its own diffusers class's default for those left unset, as
// `OtherScheduler.from_config(pipe.scheduler.config)` does in diffusers: fields the file names
// carry over, the others are the new class's defaults (SD 1.5's file has no timestep_spacing,
// so DDIM runs it `leading` and Euler `linspace`). Fields a scheduler does not know are ignored
// by it (clip_sample means nothing to Euler).
//
// `_class_name` picks the model's default scheduler: DDIMScheduler → "ddim", DDPMScheduler →
// "ddpm", EulerDiscreteScheduler → "euler", EulerAncestralDiscreteScheduler → "euler_a",
// DPMSolverMultistepScheduler → "dpmpp_2m", LCMScheduler → "lcm", and PNDMScheduler (SD 1.x's
// PLMS) → "ddim": PLMS is DDIM's update with a multistep average of the noise estimates, on the
// same `leading` timesteps, so DDIM is the deterministic sampler closest to it.
//
// Errors are kInvalidArgument, the message naming the file and the first bad field, with one
// FieldError per bad field: JSON that is not an object; `_class_name` missing or not one of the
// seven classes; a field of the wrong type or out of range; a field no scheduler knows (keys
// starting with `_` are metadata and ignored); a field with a value that would change the
// computation in a way stipple does not implement — those are accepted only at their no-op value:
//   trained_betas null · rescale_betas_zero_snr false · use_lu_lambdas false ·
//   interpolation_type "linear" · timestep_type "discrete" · algorithm_type "dpmsolver++" or
//   "sde-dpmsolver++" (not the deprecated "dpmsolver") · solver_order 1 or 2 · variance_type
//   null, "fixed_small", "fixed_small_log" or "fixed_large" (not "learned*") ·
//   thresholding false, or true with sample_max_value 1 (where dynamic thresholding is exactly
//   clipping the x0 estimate to ±1, whatever dynamic_thresholding_ratio says).
// skip_prk_steps (PNDM's own) and dynamic_thresholding_ratio are accepted with any boolean /
// number: no scheduler here depends on them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace stipple {

struct SchedulerConfig {
  std::string class_name;         // "_class_name", e.g. "PNDMScheduler"
  std::string default_scheduler;  // stipple's name for class_name ("ddim", "euler", ...)

  // The noise schedule.
  std::optional<int> num_train_timesteps;
  std::optional<double> beta_start, beta_end;
  std::optional<std::string> beta_schedule;  // "linear" | "scaled_linear"
  // What the model predicts: "epsilon" | "v_prediction" | "sample" (not for euler_a).
  std::optional<std::string> prediction_type;
  std::optional<std::string> timestep_spacing;  // "leading" | "trailing" | "linspace"
  std::optional<int> steps_offset;
  std::optional<bool> set_alpha_to_one;  // ddim, lcm
  // Clamp the x0 estimate to ±clip_sample_range (ddim, ddpm, lcm).
  std::optional<bool> clip_sample;
  std::optional<double> clip_sample_range;
  // Only as clipping to ±1 (see above): ddim, ddpm, dpmpp_2m, lcm.
  std::optional<bool> thresholding;
  std::optional<double> sample_max_value;
  std::optional<bool> use_karras_sigmas;       // euler, dpmpp_2m (EulerAncestral has none)
  std::optional<double> sigma_min, sigma_max;  // euler's Karras range; null: from the schedule
  std::optional<std::string> variance_type;    // ddpm: fixed_small | fixed_small_log | fixed_large
  // DPM-Solver (dpmpp_2m).
  std::optional<int> solver_order;            // 1 | 2
  std::optional<std::string> algorithm_type;  // "dpmsolver++" | "sde-dpmsolver++"
  std::optional<std::string> solver_type;     // "midpoint" | "heun"
  std::optional<bool> lower_order_final, euler_at_final;
  std::optional<std::string> final_sigmas_type;  // "zero" | "sigma_min"
  std::optional<double> lambda_min_clipped;      // -inf ("-Infinity" in the file) or one that
                                                 // clips no timestep (checked when planning)
  // LCM.
  std::optional<int> original_inference_steps;
  std::optional<double> timestep_scaling;
};

// Parses scheduler_config.json text; `file_name` (e.g. "scheduler/scheduler_config.json")
// starts every error message. Bare NaN / Infinity / -Infinity, which Python's json module
// writes (lambda_min_clipped is -Infinity in many files), are read as numbers.
Result<SchedulerConfig> ParseSchedulerConfig(std::string_view json, std::string_view file_name);

}  // namespace stipple
