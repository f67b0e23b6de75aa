// One step of a SamplingPlan (engine/schedulers.h) applied to tensors: the formula that header
// states, on whole batches. Every pipeline steps through this one function.
#pragma once

#include <torch/torch.h>

#include <functional>

#include "engine/schedulers.h"

namespace stipple::torch_engine {

struct PlanStepResult {
  torch::Tensor x0;    // the clean-sample estimate (the preview; the next step's prev_x0)
  torch::Tensor next;  // the sample after the step
};

// x: the current sample; out: the model's (guided) output; prev_x0: the previous step's x0
// (zeros before the first step); noise(): a standard normal draw of x's shape and device, called
// exactly when step.draw_noise (so the generators stay in lockstep with diffusers').
inline PlanStepResult ApplyPlanStep(const SchedulerStep& step, const torch::Tensor& x,
                                    const torch::Tensor& out, const torch::Tensor& prev_x0,
                                    const std::function<torch::Tensor()>& noise) {
  torch::Tensor x0 = x * step.x0_from_x + out * step.x0_from_out;
  if (step.clip_x0 > 0) x0 = x0.clamp(-step.clip_x0, step.clip_x0);
  if (step.c_skip != 0 || step.c_out != 1) x0 = x0 * step.c_out + x * step.c_skip;
  torch::Tensor next = x * step.next_from_x + out * step.next_from_out + x0 * step.next_from_x0;
  if (step.next_from_prev_x0 != 0) next = next + prev_x0 * step.next_from_prev_x0;
  if (step.draw_noise) {
    torch::Tensor n = noise();
    if (step.next_from_noise != 0) next = next + n * step.next_from_noise;
  }
  return {x0, next};
}

}  // namespace stipple::torch_engine
