#include "engine/schedulers.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace stipple {
namespace {

Status CheckSteps(int steps, const NoiseSchedule& schedule) {
  if (steps < 1 || steps > schedule.train_timesteps()) {
    return InvalidArgumentError("steps must be 1.." + std::to_string(schedule.train_timesteps()));
  }
  return Status::Ok();
}

// "leading" spacing (diffusers' default for DDPM and DDIM): t_i = (N-1-i) * (T / N).
std::vector<int> LeadingTimesteps(int steps, int train_timesteps) {
  const int ratio = train_timesteps / steps;
  std::vector<int> t(steps);
  for (int i = 0; i < steps; ++i) t[i] = (steps - 1 - i) * ratio;
  return t;
}

// numpy.linspace(0, T-1, count)[i], as numpy computes it.
double Linspace(int train_timesteps, int count, int i) {
  if (count == 1) return 0;
  if (i == count - 1) return train_timesteps - 1;
  return i * (static_cast<double>(train_timesteps - 1) / (count - 1));
}

// σ(t) = √((1-ᾱ)/ᾱ), linearly interpolated between integer timesteps (numpy.interp).
double SigmaAt(const NoiseSchedule& s, double t) {
  auto sigma = [&](int i) {
    const double a = s.alphas_cumprod[i];
    return std::sqrt((1 - a) / a);
  };
  const int lo = static_cast<int>(std::floor(t));
  const int hi = std::min(lo + 1, s.train_timesteps() - 1);
  const double frac = t - lo;
  return sigma(lo) + (sigma(hi) - sigma(lo)) * frac;
}

class AlphaSpaceScheduler : public Scheduler {
 public:
  explicit AlphaSpaceScheduler(NoiseSchedule schedule) : schedule_(std::move(schedule)) {}

 protected:
  // ᾱ at t, or 1 ("set_alpha_to_one") before the first timestep.
  double AlphaBar(int t) const { return t >= 0 ? schedule_.alphas_cumprod[t] : 1.0; }
  void SetX0(double alpha_bar, SchedulerStep* step) const {
    step->x0_from_x = 1 / std::sqrt(alpha_bar);
    step->x0_from_eps = -std::sqrt(1 - alpha_bar) / std::sqrt(alpha_bar);
  }
  NoiseSchedule schedule_;
};

// DDPMScheduler: variance "fixed_small", noise added at every step but the one at t = 0.
class DdpmScheduler final : public AlphaSpaceScheduler {
 public:
  using AlphaSpaceScheduler::AlphaSpaceScheduler;
  std::string_view name() const override { return "ddpm"; }
  Result<SamplingPlan> Plan(int steps) const override {
    RETURN_IF_ERROR(CheckSteps(steps, schedule_));
    const int ratio = schedule_.train_timesteps() / steps;
    SamplingPlan plan;
    for (int t : LeadingTimesteps(steps, schedule_.train_timesteps())) {
      const double a = AlphaBar(t), a_prev = AlphaBar(t - ratio);
      const double alpha = a / a_prev, beta = 1 - alpha;
      SchedulerStep step;
      step.timestep = t;
      SetX0(a, &step);
      step.next_from_x0 = std::sqrt(a_prev) * beta / (1 - a);
      step.next_from_x = std::sqrt(alpha) * (1 - a_prev) / (1 - a);
      const double variance = std::max((1 - a_prev) / (1 - a) * beta, 1e-20);
      step.next_from_noise = t > 0 ? std::sqrt(variance) : 0;
      plan.steps.push_back(step);
    }
    return plan;
  }
};

// DDIMScheduler with eta = 0 (deterministic).
class DdimScheduler final : public AlphaSpaceScheduler {
 public:
  using AlphaSpaceScheduler::AlphaSpaceScheduler;
  std::string_view name() const override { return "ddim"; }
  Result<SamplingPlan> Plan(int steps) const override {
    RETURN_IF_ERROR(CheckSteps(steps, schedule_));
    const int ratio = schedule_.train_timesteps() / steps;
    SamplingPlan plan;
    for (int t : LeadingTimesteps(steps, schedule_.train_timesteps())) {
      const double a = AlphaBar(t), a_prev = AlphaBar(t - ratio);
      SchedulerStep step;
      step.timestep = t;
      SetX0(a, &step);
      step.next_from_x0 = std::sqrt(a_prev);
      step.next_from_eps = std::sqrt(1 - a_prev);
      plan.steps.push_back(step);
    }
    return plan;
  }
};

// EulerAncestralDiscreteScheduler, "linspace" spacing: works on x scaled by σ.
class EulerAncestralScheduler final : public Scheduler {
 public:
  explicit EulerAncestralScheduler(NoiseSchedule schedule) : schedule_(std::move(schedule)) {}
  std::string_view name() const override { return "euler_a"; }
  Result<SamplingPlan> Plan(int steps) const override {
    RETURN_IF_ERROR(CheckSteps(steps, schedule_));
    const int T = schedule_.train_timesteps();
    std::vector<double> timesteps(steps), sigmas(steps + 1, 0.0);
    for (int i = 0; i < steps; ++i) {
      timesteps[i] = Linspace(T, steps, steps - 1 - i);
      sigmas[i] = SigmaAt(schedule_, timesteps[i]);
    }
    SamplingPlan plan;
    plan.init_noise_scale = *std::max_element(sigmas.begin(), sigmas.end());
    for (int i = 0; i < steps; ++i) {
      const double s = sigmas[i], s_to = sigmas[i + 1];
      const double s_up = std::sqrt(s_to * s_to * (s * s - s_to * s_to) / (s * s));
      const double s_down = std::sqrt(s_to * s_to - s_up * s_up);
      SchedulerStep step;
      step.timestep = timesteps[i];
      step.input_scale = 1 / std::sqrt(s * s + 1);
      step.x0_from_x = 1;
      step.x0_from_eps = -s;
      step.next_from_x = 1;
      step.next_from_eps = s_down - s;  // derivative (x - x0) / σ = eps, times dt
      step.next_from_noise = s_up;
      plan.steps.push_back(step);
    }
    return plan;
  }

 private:
  NoiseSchedule schedule_;
};

// DPMSolverMultistepScheduler: "dpmsolver++", order 2, midpoint, "linspace" spacing, the last
// step to σ = 0 taken with the first-order update (final_sigmas_type "zero").
class DpmSolverPp2mScheduler final : public AlphaSpaceScheduler {
 public:
  using AlphaSpaceScheduler::AlphaSpaceScheduler;
  std::string_view name() const override { return "dpmpp_2m"; }
  Result<SamplingPlan> Plan(int steps) const override {
    RETURN_IF_ERROR(CheckSteps(steps, schedule_));
    const int T = schedule_.train_timesteps();
    // timesteps = linspace(0, T-1, N+1).round()[::-1][:-1]; round half to even, as numpy.
    std::vector<int> t(steps);
    for (int i = 0; i < steps; ++i) {
      t[i] = static_cast<int>(std::nearbyint(Linspace(T, steps + 1, steps - i)));
    }
    // alpha_t = √ᾱ, sigma_t = √(1-ᾱ) at each timestep; the end point is alpha 1, sigma 0.
    std::vector<double> alpha(steps + 1, 1.0), sigma(steps + 1, 0.0);
    for (int i = 0; i < steps; ++i) {
      alpha[i] = std::sqrt(AlphaBar(t[i]));
      sigma[i] = std::sqrt(1 - AlphaBar(t[i]));
    }
    SamplingPlan plan;
    for (int i = 0; i < steps; ++i) {
      SchedulerStep step;
      step.timestep = t[i];
      SetX0(AlphaBar(t[i]), &step);
      // e^{-h} with h = λ_t - λ_s0, λ = log(alpha / sigma): (sigma_t/alpha_t) / (sigma_s/alpha_s).
      const double exp_neg_h = (sigma[i + 1] / alpha[i + 1]) / (sigma[i] / alpha[i]);
      step.next_from_x = sigma[i + 1] / sigma[i];
      const double d = -alpha[i + 1] * (exp_neg_h - 1);
      const bool first_order = i == 0 || i == steps - 1;
      if (first_order) {
        step.next_from_x0 = d;
      } else {
        const double h = std::log(alpha[i + 1] / sigma[i + 1]) - std::log(alpha[i] / sigma[i]);
        const double h0 = std::log(alpha[i] / sigma[i]) - std::log(alpha[i - 1] / sigma[i - 1]);
        const double r0 = h0 / h;
        step.next_from_x0 = d * (1 + 0.5 / r0);
        step.next_from_prev_x0 = -d * 0.5 / r0;
      }
      plan.steps.push_back(step);
    }
    return plan;
  }
};

}  // namespace

Result<NoiseSchedule> NoiseSchedule::Make(const NoiseScheduleConfig& config) {
  const int T = config.train_timesteps;
  if (T < 2) return InvalidArgumentError("noise schedule: train_timesteps must be at least 2");
  if (!(config.beta_start > 0 && config.beta_end < 1 && config.beta_start <= config.beta_end)) {
    return InvalidArgumentError("noise schedule: need 0 < beta_start <= beta_end < 1");
  }
  NoiseSchedule s;
  s.betas.resize(T);
  for (int i = 0; i < T; ++i) {
    const double f = static_cast<double>(i) / (T - 1);
    if (config.beta_schedule == "linear") {
      s.betas[i] = config.beta_start + (config.beta_end - config.beta_start) * f;
    } else if (config.beta_schedule == "scaled_linear") {
      const double r = std::sqrt(config.beta_start) +
                       (std::sqrt(config.beta_end) - std::sqrt(config.beta_start)) * f;
      s.betas[i] = r * r;
    } else {
      return InvalidArgumentError("noise schedule: unknown beta_schedule '" + config.beta_schedule +
                                  "'");
    }
  }
  s.alphas_cumprod.resize(T);
  double product = 1;
  for (int i = 0; i < T; ++i) s.alphas_cumprod[i] = product *= 1 - s.betas[i];
  return s;
}

Result<std::unique_ptr<Scheduler>> MakeScheduler(std::string_view name, NoiseSchedule schedule) {
  if (name == "ddpm") return std::unique_ptr<Scheduler>(new DdpmScheduler(std::move(schedule)));
  if (name == "ddim") return std::unique_ptr<Scheduler>(new DdimScheduler(std::move(schedule)));
  if (name == "euler_a") {
    return std::unique_ptr<Scheduler>(new EulerAncestralScheduler(std::move(schedule)));
  }
  if (name == "dpmpp_2m") {
    return std::unique_ptr<Scheduler>(new DpmSolverPp2mScheduler(std::move(schedule)));
  }
  return InvalidArgumentError("unknown scheduler '" + std::string(name) +
                              "'; known: ddim, ddpm, euler_a, dpmpp_2m");
}

void ApplySchedulerStep(const SchedulerStep& s, std::span<const float> x,
                        std::span<const float> eps, std::span<const float> prev_x0,
                        std::span<const float> noise, std::span<float> x0, std::span<float> next) {
  for (size_t i = 0; i < x.size(); ++i) {
    const double estimate = s.x0_from_x * x[i] + s.x0_from_eps * eps[i];
    double value = s.next_from_x * x[i] + s.next_from_eps * eps[i] + s.next_from_x0 * estimate;
    if (s.next_from_prev_x0 != 0) value += s.next_from_prev_x0 * prev_x0[i];
    if (s.next_from_noise != 0) value += s.next_from_noise * noise[i];
    x0[i] = static_cast<float>(estimate);
    next[i] = static_cast<float>(value);
  }
}

}  // namespace stipple
