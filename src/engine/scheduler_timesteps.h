// The timestep and σ arithmetic the schedulers share (schedulers.cc), computed as diffusers
// 0.27.2 computes it with numpy, so that the timesteps come out identical — rounding half to
// even, numpy's linspace and arange — and the σ values to the last float32 bit or close.
// Internal to the engine; tested through schedulers_test.
#pragma once

#include <string_view>
#include <vector>

namespace stipple::scheduler_math {

// numpy.linspace(start, stop, num) (num >= 1, stop included when num > 1).
std::vector<double> Linspace(double start, double stop, int num);

// The first `count` values of numpy.arange(start, 0, -step) (start, step > 0), as numpy fills
// them. numpy gives one value more for some counts (1000 / 61 steps, ...): diffusers then runs
// an extra step at timestep -1, a bug stipple does not copy.
std::vector<double> ArangeDown(double start, double step, int count);

// Round half to even (numpy.round).
double RoundHalfEven(double v);
// The nearest float32 value, as a double (what diffusers keeps in float32 tensors).
double ToFloat32(double v);

// The integer timesteps of DDIM / DDPM (and the start of Euler's, before its float handling):
// "leading" (T/N)·i + steps_offset, "trailing" round(arange(T, 0, -T/N)) - 1, "linspace"
// round(linspace(0, T-1, N)); descending.
std::vector<double> SpacedTimesteps(std::string_view spacing, int train_timesteps, int steps,
                                    int steps_offset, bool round_linspace);

// DPMSolverMultistepScheduler's timesteps: N+1 points from 0 to `last_timestep`, the last
// dropped ("linspace", "leading"), or "trailing" as above; descending.
std::vector<double> DpmTimesteps(std::string_view spacing, int last_timestep, int train_timesteps,
                                 int steps, int steps_offset);

// numpy.interp(t, arange(len(table)), table): linear between integer timesteps, clamped at
// both ends.
double Interpolate(const std::vector<double>& table, double t);

// diffusers' _sigma_to_t: the fractional timestep whose log σ interpolates `log_sigmas`
// (ascending in t) to log(max(σ, 1e-10)), clamped to the table.
double SigmaToTimestep(double sigma, const std::vector<double>& log_sigmas);

// Karras et al.'s schedule: (σmax^(1/7) + ramp·(σmin^(1/7) − σmax^(1/7)))^7, ramp =
// linspace(0, 1, steps).
std::vector<double> KarrasSigmas(double sigma_min, double sigma_max, int steps);

}  // namespace stipple::scheduler_math
