"""Scheduler goldens: for a table of diffusers scheduler configs × each of stipple's schedulers ×
a few step counts, what diffusers 0.27.2 computes — timesteps, sigmas, init_noise_sigma and a
short trajectory (fixed random start, fixed per-step model outputs and noise) through
`scale_model_input` + `step`, recording each step's model input, next sample, clean-image
estimate (pred_original_sample; LCM: denoised; DPM-Solver: its converted model output) and
whether the step drew noise from the generator (randn_tensor is replaced in the scheduler
modules by a feed of the fixed noise that counts the draws).

Writes src/engine/testdata/schedulers/:
  <config>.json                 the scheduler_config.json of each row of the table
  cases.json                    per case: timesteps, sigmas, init_noise_sigma, draws (or error)
  trajectories.safetensors      x, model_output (20 steps), noise (20 steps) and per case
                                <case>: (steps, 3, 8), each step's model input, next sample and
                                clean-image estimate

Run from the project's root:  . ../shared/reference/env.sh && /usr/bin/python3 tools/goldens/schedulers.py
"""
import json
import math
import os

import numpy as np
import torch
from safetensors.torch import save_file

import diffusers
from diffusers.schedulers import (scheduling_ddim, scheduling_ddpm, scheduling_dpmsolver_multistep,
                                  scheduling_euler_ancestral_discrete, scheduling_euler_discrete,
                                  scheduling_lcm)

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "src", "engine", "testdata", "schedulers")
SHAPE = (1, 2, 2, 2)  # 8 elements: (batch, channels, height, width)
MAX_STEPS = 20
STEP_COUNTS = [1, 2, 4, 7, 20]

# Our names → the diffusers class a user swaps in with `from_config`.
SCHEDULERS = {
    "ddim": diffusers.DDIMScheduler,
    "ddpm": diffusers.DDPMScheduler,
    "euler": diffusers.EulerDiscreteScheduler,
    "euler_a": diffusers.EulerAncestralDiscreteScheduler,
    "dpmpp_2m": diffusers.DPMSolverMultistepScheduler,
    "lcm": diffusers.LCMScheduler,
}

SD = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
      "num_train_timesteps": 1000, "trained_betas": None}

CONFIGS = {
    # runwayml/stable-diffusion-v1-5
    "sd15_pndm": {"_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", **SD,
                  "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
                  "clip_sample": False},
    # stabilityai/stable-diffusion-2-1 (768, v-prediction)
    "sd2_v": {"_class_name": "DDIMScheduler", "_diffusers_version": "0.8.0", **SD,
              "clip_sample": False, "prediction_type": "v_prediction", "set_alpha_to_one": False,
              "skip_prk_steps": True, "steps_offset": 1},
    # stabilityai/stable-diffusion-xl-base-1.0
    "sdxl_euler": {"_class_name": "EulerDiscreteScheduler", "_diffusers_version": "0.19.0.dev0",
                   **SD, "clip_sample": False, "interpolation_type": "linear",
                   "prediction_type": "epsilon", "sample_max_value": 1.0,
                   "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
                   "timestep_spacing": "leading", "use_karras_sigmas": False},
    # stabilityai/sdxl-turbo, sd-turbo
    "turbo_trailing": {"_class_name": "EulerAncestralDiscreteScheduler",
                       "_diffusers_version": "0.24.0.dev0", **SD, "clip_sample": False,
                       "interpolation_type": "linear", "prediction_type": "epsilon",
                       "sample_max_value": 1.0, "set_alpha_to_one": False,
                       "skip_prk_steps": True, "steps_offset": 1, "timestep_spacing": "trailing",
                       "use_karras_sigmas": False},
    # A pixel-space model: linear betas, linspace spacing, x0 clipped to ±1.5.
    "linspace_clip": {"_class_name": "DDIMScheduler", "beta_start": 0.0001, "beta_end": 0.02,
                      "beta_schedule": "linear", "num_train_timesteps": 1000,
                      "clip_sample": True, "clip_sample_range": 1.5, "set_alpha_to_one": True,
                      "steps_offset": 0, "timestep_spacing": "linspace"},
    # clip_sample with thresholding at 1.0 (the schedule of the first shapes-32 model).
    "model_json_clip": {"_class_name": "DDIMScheduler", "beta_start": 0.0001, "beta_end": 0.02,
                        "beta_schedule": "linear", "num_train_timesteps": 1000,
                        "clip_sample": True, "thresholding": True, "sample_max_value": 1.0},
    # A DPM-Solver++ config with Karras sigmas as SD fine-tunes ship it.
    "karras_dpm": {"_class_name": "DPMSolverMultistepScheduler", "_diffusers_version": "0.21.0",
                   **SD, "algorithm_type": "dpmsolver++", "dynamic_thresholding_ratio": 0.995,
                   "euler_at_final": False, "lambda_min_clipped": -math.inf,
                   "lower_order_final": True, "prediction_type": "epsilon",
                   "sample_max_value": 1.0, "solver_order": 2, "solver_type": "midpoint",
                   "steps_offset": 1, "thresholding": False, "timestep_spacing": "leading",
                   "use_karras_sigmas": True, "use_lu_lambdas": False, "variance_type": None},
    # The other DPM-Solver settings: SDE variant, Heun, σ_min at the end, v-prediction, trailing.
    "dpm_sde_heun_v": {"_class_name": "DPMSolverMultistepScheduler", **SD,
                       "algorithm_type": "sde-dpmsolver++", "solver_type": "heun",
                       "final_sigmas_type": "sigma_min", "lower_order_final": False,
                       "euler_at_final": False, "prediction_type": "v_prediction",
                       "timestep_spacing": "trailing", "steps_offset": 0},
    # latent-consistency/lcm-lora-sdv1-5
    "lcm": {"_class_name": "LCMScheduler", "_diffusers_version": "0.22.0.dev0", **SD,
            "clip_sample": False, "clip_sample_range": 1.0, "original_inference_steps": 50,
            "prediction_type": "epsilon", "rescale_betas_zero_snr": False,
            "sample_max_value": 1.0, "set_alpha_to_one": True, "steps_offset": 1,
            "thresholding": False, "timestep_scaling": 10.0, "timestep_spacing": "leading"},
    # x0-predicting pixel model on DDPM's large variance, with Karras sigmas for the σ samplers.
    "sample_pred": {"_class_name": "DDPMScheduler", "beta_start": 0.0001, "beta_end": 0.02,
                    "beta_schedule": "linear", "num_train_timesteps": 1000,
                    "prediction_type": "sample", "variance_type": "fixed_large",
                    "clip_sample": True, "use_karras_sigmas": True,
                    "timestep_spacing": "trailing"},
}

CLASSES = {"PNDMScheduler": diffusers.PNDMScheduler, "DDIMScheduler": diffusers.DDIMScheduler,
           "DDPMScheduler": diffusers.DDPMScheduler,
           "EulerDiscreteScheduler": diffusers.EulerDiscreteScheduler,
           "EulerAncestralDiscreteScheduler": diffusers.EulerAncestralDiscreteScheduler,
           "DPMSolverMultistepScheduler": diffusers.DPMSolverMultistepScheduler,
           "LCMScheduler": diffusers.LCMScheduler}


class NoiseFeed:
    """Stands in for diffusers' randn_tensor in the scheduler modules: hands out the fixed noise of
    the current step and counts the draws."""

    def __init__(self, noise):
        self.noise = noise
        self.step = 0
        self.draws = []

    def __call__(self, shape, generator=None, device=None, dtype=None, layout=None):
        assert tuple(shape) == SHAPE, shape
        self.draws[self.step] += 1
        return self.noise[self.step].reshape(SHAPE).to(dtype or torch.float32)


def run_case(config, scheduler_class, steps, x, model_output, noise):
    base = CLASSES[config["_class_name"]].from_config(config)
    s = scheduler_class.from_config(base.config)  # how diffusers users swap schedulers
    feed = NoiseFeed(noise)
    for module in (scheduling_ddim, scheduling_ddpm, scheduling_euler_discrete,
                   scheduling_euler_ancestral_discrete, scheduling_dpmsolver_multistep,
                   scheduling_lcm):
        module.randn_tensor = feed
    s.set_timesteps(steps)
    timesteps = [float(t) for t in s.timesteps]
    sigmas = [float(v) for v in s.sigmas] if hasattr(s, "sigmas") and isinstance(
        s, (diffusers.EulerDiscreteScheduler, diffusers.EulerAncestralDiscreteScheduler,
            diffusers.DPMSolverMultistepScheduler)) else None
    init = float(s.init_noise_sigma)
    sample = x.reshape(SHAPE) * s.init_noise_sigma
    inputs, nexts, x0s = [], [], []
    for i, t in enumerate(s.timesteps):
        feed.step = i
        feed.draws.append(0)
        inputs.append(s.scale_model_input(sample, t).flatten())
        out = s.step(model_output[i].reshape(SHAPE), t, sample)
        if isinstance(s, diffusers.DPMSolverMultistepScheduler):
            x0 = s.model_outputs[-1]  # the converted (data-prediction) output
        elif isinstance(s, diffusers.LCMScheduler):
            x0 = out.denoised
        else:
            x0 = out.pred_original_sample
        sample = out.prev_sample
        nexts.append(sample.flatten())
        x0s.append(x0.flatten())
    assert all(d <= 1 for d in feed.draws), feed.draws
    meta = {"timesteps": timesteps, "sigmas": sigmas, "init_noise_sigma": init,
            "draws": [d == 1 for d in feed.draws]}
    return meta, torch.stack(inputs), torch.stack(nexts), torch.stack(x0s)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.RandomState(14)
    x = torch.from_numpy(rng.standard_normal(8).astype(np.float32))
    model_output = torch.from_numpy(rng.standard_normal((MAX_STEPS, 8)).astype(np.float32))
    noise = torch.from_numpy(rng.standard_normal((MAX_STEPS, 8)).astype(np.float32))
    tensors = {"x": x, "model_output": model_output, "noise": noise}
    cases = {}
    for config_name, config in CONFIGS.items():
        with open(os.path.join(OUT, config_name + ".json"), "w") as f:
            f.write(json.dumps(config, indent=2, sort_keys=True) + "\n")
        for name, cls in SCHEDULERS.items():
            for steps in STEP_COUNTS:
                case = f"{config_name}.{name}.{steps}"
                try:
                    meta, inputs, nexts, x0s = run_case(config, cls, steps, x, model_output, noise)
                except (ValueError, NotImplementedError) as e:
                    cases[case] = {"error": str(e)}
                    continue
                cases[case] = meta
                tensors[case] = torch.stack([inputs, nexts, x0s], dim=1).contiguous()
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        f.write(json.dumps(cases, sort_keys=True, separators=(",", ":")).replace("},", "},\n") + "\n")
    save_file(tensors, os.path.join(OUT, "trajectories.safetensors"))
    errors = sum(1 for c in cases.values() if "error" in c)
    print(f"{len(cases)} cases ({errors} refused by diffusers), {len(tensors)} tensors")


if __name__ == "__main__":
    main()
