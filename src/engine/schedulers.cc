#include "engine/schedulers.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "engine/scheduler_timesteps.h"

namespace stipple {
namespace {

using namespace scheduler_math;  // NOLINT(google-build-using-namespace)

enum class Kind { kDdim, kDdpm, kEuler, kEulerAncestral, kDpmSolver, kLcm };
enum class Prediction { kEpsilon, kV, kSample };

// Everything a scheduler reads, with its diffusers class's defaults for what the config leaves
// unset.
struct Settings {
  NoiseSchedule schedule;
  double sigma_zero = 0;  // σ(0) as diffusers computes it (see DiffusersSigmaZero)
  Prediction prediction = Prediction::kEpsilon;
  std::string spacing;
  int steps_offset = 0;
  bool set_alpha_to_one = true;
  double clip = 0;  // > 0: clamp x0 to ±clip
  bool karras = false;
  std::optional<double> sigma_min, sigma_max;
  bool fixed_large = false;  // DDPM's variance
  int solver_order = 2;
  bool sde = false, heun = false, lower_order_final = true, euler_at_final = false;
  bool final_sigma_min = false;
  int original_steps = 50;
  double timestep_scaling = 10;
};

// σ(0) = √((1-ᾱ₀)/ᾱ₀), ᾱ₀ = 1 - β₀, in float32 as diffusers computes it. At t = 0, 1-ᾱ keeps
// few float32 digits (β₀ = 1e-4 for a linear schedule), so diffusers' value is off the exact one
// by up to 1e-4 relative; it is the end of every Karras range and DPM-Solver's sigma_min, so
// stipple takes the same value (exactly reproducible: torch's linspace starts at beta_start).
double DiffusersSigmaZero(const NoiseScheduleConfig& noise) {
  float beta0 = static_cast<float>(noise.beta_start);
  if (noise.beta_schedule == "scaled_linear") {
    const float root = static_cast<float>(std::sqrt(noise.beta_start));
    beta0 = root * root;
  }
  const float alpha0 = 1.0f - beta0;
  return std::sqrt((1.0f - alpha0) / alpha0);
}

Result<Settings> Resolve(Kind kind, const SchedulerConfig& c) {
  const bool lcm = kind == Kind::kLcm;
  const bool alpha_space = kind == Kind::kDdim || kind == Kind::kDdpm || lcm;
  Settings s;
  NoiseScheduleConfig noise;
  noise.train_timesteps = c.num_train_timesteps.value_or(1000);
  noise.beta_schedule = c.beta_schedule.value_or(lcm ? "scaled_linear" : "linear");
  noise.beta_start = c.beta_start.value_or(lcm ? 0.00085 : 0.0001);
  noise.beta_end = c.beta_end.value_or(lcm ? 0.012 : 0.02);
  ASSIGN_OR_RETURN(s.schedule, NoiseSchedule::Make(noise));
  s.sigma_zero = DiffusersSigmaZero(noise);

  const std::string prediction = c.prediction_type.value_or("epsilon");
  s.prediction = prediction == "v_prediction" ? Prediction::kV
                 : prediction == "sample"     ? Prediction::kSample
                                              : Prediction::kEpsilon;
  if (kind == Kind::kEulerAncestral && s.prediction == Prediction::kSample) {
    return InvalidArgumentError(
        "scheduler euler_a: prediction_type 'sample' is not supported (diffusers' "
        "EulerAncestralDiscreteScheduler has none)");
  }
  const bool linspace_default =
      kind == Kind::kEuler || kind == Kind::kEulerAncestral || kind == Kind::kDpmSolver;
  s.spacing = c.timestep_spacing.value_or(linspace_default ? "linspace" : "leading");
  s.steps_offset = c.steps_offset.value_or(0);
  s.set_alpha_to_one = c.set_alpha_to_one.value_or(true);

  // Dynamic thresholding is accepted only where it is clipping to ±1 (scheduler_config.h).
  const bool thresholding = c.thresholding.value_or(false);
  if (alpha_space) {
    if (thresholding) {
      s.clip = 1;
    } else if (c.clip_sample.value_or(!lcm)) {  // DDIM and DDPM clip by default, LCM not
      s.clip = c.clip_sample_range.value_or(1.0);
    }
  } else if (kind == Kind::kDpmSolver && thresholding) {
    s.clip = 1;
  }
  if (kind == Kind::kEuler || kind == Kind::kDpmSolver) {
    s.karras = c.use_karras_sigmas.value_or(false);
  }
  if (kind == Kind::kEuler) {
    s.sigma_min = c.sigma_min;
    s.sigma_max = c.sigma_max;
  }
  s.fixed_large = c.variance_type.value_or("fixed_small") == "fixed_large";
  s.solver_order = c.solver_order.value_or(2);
  s.sde = c.algorithm_type.value_or("dpmsolver++") == "sde-dpmsolver++";
  s.heun = c.solver_type.value_or("midpoint") == "heun";
  s.lower_order_final = c.lower_order_final.value_or(true);
  s.euler_at_final = c.euler_at_final.value_or(false);
  s.final_sigma_min = c.final_sigmas_type.value_or("zero") == "sigma_min";
  s.original_steps = c.original_inference_steps.value_or(50);
  s.timestep_scaling = c.timestep_scaling.value_or(10.0);

  if (kind == Kind::kDpmSolver && c.lambda_min_clipped) {
    // λ(t) = log(√ᾱ / √(1-ᾱ)); a bound above some λ would drop the timesteps below it.
    for (double a : s.schedule.alphas_cumprod) {
      if (0.5 * std::log(a / (1 - a)) < *c.lambda_min_clipped) {
        return InvalidArgumentError(
            "scheduler dpmpp_2m: a lambda_min_clipped that clips timesteps is not supported");
      }
    }
  }
  return s;
}

Status CheckSteps(int steps, const Settings& s) {
  if (steps < 1 || steps > s.schedule.train_timesteps()) {
    return InvalidArgumentError("steps must be 1.." + std::to_string(s.schedule.train_timesteps()));
  }
  return Status::Ok();
}

// The timesteps index ᾱ: they must lie inside the schedule.
Status CheckInSchedule(const std::vector<double>& timesteps, const Settings& s) {
  for (double t : timesteps) {
    if (t < 0 || t >= s.schedule.train_timesteps()) {
      return InvalidArgumentError("timestep " + std::to_string(static_cast<long>(t)) +
                                  " (steps_offset " + std::to_string(s.steps_offset) +
                                  ") is outside the schedule of " +
                                  std::to_string(s.schedule.train_timesteps()) + " timesteps");
    }
  }
  return Status::Ok();
}

// x0 = from_x · x + from_out · out, in the VP form x = √ᾱ x0 + √(1-ᾱ) ε.
void SetAlphaX0(Prediction p, double a, SchedulerStep* step) {
  switch (p) {
    case Prediction::kEpsilon:
      step->x0_from_x = 1 / std::sqrt(a);
      step->x0_from_out = -std::sqrt(1 - a) / std::sqrt(a);
      break;
    case Prediction::kV:
      step->x0_from_x = std::sqrt(a);
      step->x0_from_out = -std::sqrt(1 - a);
      break;
    case Prediction::kSample:
      step->x0_from_x = 0;
      step->x0_from_out = 1;
      break;
  }
}

// add_noise in the VP form: √ᾱ x0 + √(1-ᾱ) ε.
void SetAlphaRenoise(double a, SchedulerStep* step) {
  step->renoise_x0 = std::sqrt(a);
  step->renoise_noise = std::sqrt(1 - a);
}

// ε = from_x · x + from_out · out (before any clipping of x0).
std::pair<double, double> AlphaEps(Prediction p, double a) {
  switch (p) {
    case Prediction::kEpsilon: return {0, 1};
    case Prediction::kV: return {std::sqrt(1 - a), std::sqrt(a)};
    case Prediction::kSample: return {1 / std::sqrt(1 - a), -std::sqrt(a) / std::sqrt(1 - a)};
  }
  return {0, 1};
}

// x0 in the σ form x = x0 + σ ε (Euler), the model having seen x / √(σ²+1).
void SetSigmaX0(Prediction p, double sigma, SchedulerStep* step) {
  switch (p) {
    case Prediction::kEpsilon:
      step->x0_from_x = 1;
      step->x0_from_out = -sigma;
      break;
    case Prediction::kV:
      step->x0_from_x = 1 / (sigma * sigma + 1);
      step->x0_from_out = -sigma / std::sqrt(sigma * sigma + 1);
      break;
    case Prediction::kSample:
      step->x0_from_x = 0;
      step->x0_from_out = 1;
      break;
  }
}

class PlannedScheduler : public Scheduler {
 public:
  PlannedScheduler(Kind kind, std::string_view name, Settings settings)
      : kind_(kind), name_(name), s_(std::move(settings)) {}
  std::string_view name() const override { return name_; }

  Result<SamplingPlan> PlanFrom(int steps, int begin) const override {
    RETURN_IF_ERROR(CheckSteps(steps, s_));
    if (begin < 0 || begin >= steps) {
      return InvalidArgumentError("the first step must be 0.." + std::to_string(steps - 1));
    }
    Result<SamplingPlan> plan = InternalError("unknown scheduler kind");
    switch (kind_) {
      case Kind::kDdim:
      case Kind::kDdpm: plan = AlphaPlan(steps); break;
      case Kind::kEuler:
      case Kind::kEulerAncestral: plan = EulerPlan(steps); break;
      case Kind::kDpmSolver: plan = DpmPlan(steps, begin); break;
      case Kind::kLcm: plan = LcmPlan(steps); break;
    }
    if (!plan.ok() || begin == 0) return plan;
    plan->steps.erase(plan->steps.begin(), plan->steps.begin() + begin);
    if (!plan->sigmas.empty()) {
      plan->sigmas.erase(plan->sigmas.begin(), plan->sigmas.begin() + begin);
    }
    return plan;
  }

 private:
  double AlphaBar(double t) const { return s_.schedule.alphas_cumprod[static_cast<int>(t)]; }
  int T() const { return s_.schedule.train_timesteps(); }
  // The schedule's σ(t) = √((1-ᾱ)/ᾱ) for every t, σ(0) as diffusers has it.
  std::vector<double> SigmaTable() const {
    std::vector<double> sigmas;
    for (double a : s_.schedule.alphas_cumprod) sigmas.push_back(std::sqrt((1 - a) / a));
    sigmas[0] = s_.sigma_zero;
    return sigmas;
  }

  // DDIM (η = 0) and DDPM: both step from t to t - T/N (diffusers' previous_timestep, whatever
  // the spacing), ᾱ of a negative timestep being the final one.
  Result<SamplingPlan> AlphaPlan(int steps) const {
    const bool ddim = kind_ == Kind::kDdim;
    std::vector<double> timesteps = SpacedTimesteps(s_.spacing, T(), steps, s_.steps_offset, true);
    RETURN_IF_ERROR(CheckInSchedule(timesteps, s_));
    const int ratio = T() / steps;
    const double final_alpha = !ddim || s_.set_alpha_to_one ? 1.0 : AlphaBar(0);
    SamplingPlan plan;
    for (double t : timesteps) {
      const double a = AlphaBar(t);
      const double prev = t - ratio;
      const double a_prev = prev >= 0 ? AlphaBar(prev) : final_alpha;
      SchedulerStep step;
      step.timestep = t;
      SetAlphaRenoise(a, &step);
      SetAlphaX0(s_.prediction, a, &step);
      step.clip_x0 = s_.clip;
      if (ddim) {
        const auto [eps_x, eps_out] = AlphaEps(s_.prediction, a);
        step.next_from_x0 = std::sqrt(a_prev);
        step.next_from_x = std::sqrt(1 - a_prev) * eps_x;
        step.next_from_out = std::sqrt(1 - a_prev) * eps_out;
      } else {
        const double alpha = a / a_prev, beta = 1 - alpha;
        step.next_from_x0 = std::sqrt(a_prev) * beta / (1 - a);
        step.next_from_x = std::sqrt(alpha) * (1 - a_prev) / (1 - a);
        const double variance = std::max((1 - a_prev) / (1 - a) * beta, 1e-20);
        step.draw_noise = t > 0;
        if (step.draw_noise) {
          step.next_from_noise = s_.fixed_large ? std::sqrt(beta) : std::sqrt(variance);
        }
      }
      plan.steps.push_back(step);
    }
    return plan;
  }

  // Euler and Euler ancestral work on x = x0 + σ ε; the timesteps are float32, as diffusers'.
  Result<SamplingPlan> EulerPlan(int steps) const {
    const std::vector<double> table = SigmaTable();
    std::vector<double> timesteps =
        SpacedTimesteps(s_.spacing, T(), steps, s_.steps_offset, /*round_linspace=*/false);
    std::vector<double> sigmas;
    for (double& t : timesteps) {
      t = ToFloat32(t);
      sigmas.push_back(Interpolate(table, t));
    }
    if (s_.karras) {
      std::vector<double> log_sigmas;
      for (double sigma : table) log_sigmas.push_back(std::log(sigma));
      sigmas = KarrasSigmas(s_.sigma_min.value_or(sigmas.back()),
                            s_.sigma_max.value_or(sigmas.front()), steps);
      for (int i = 0; i < steps; ++i)
        timesteps[i] = ToFloat32(SigmaToTimestep(sigmas[i], log_sigmas));
    }
    SamplingPlan plan;
    plan.sigmas = sigmas;
    plan.sigmas.push_back(0);
    const double max_sigma = *std::max_element(plan.sigmas.begin(), plan.sigmas.end());
    plan.init_noise_scale =
        s_.spacing == "leading" ? std::sqrt(max_sigma * max_sigma + 1) : max_sigma;
    const bool ancestral = kind_ == Kind::kEulerAncestral;
    for (int i = 0; i < steps; ++i) {
      const double sigma = plan.sigmas[i], sigma_to = plan.sigmas[i + 1];
      SchedulerStep step;
      step.timestep = timesteps[i];
      step.input_scale = 1 / std::sqrt(sigma * sigma + 1);
      step.renoise_noise = sigma;
      SetSigmaX0(s_.prediction, sigma, &step);
      double sigma_up = 0, sigma_down = sigma_to;
      if (ancestral) {
        sigma_up = std::sqrt(sigma_to * sigma_to * (sigma * sigma - sigma_to * sigma_to) /
                             (sigma * sigma));
        sigma_down = std::sqrt(sigma_to * sigma_to - sigma_up * sigma_up);
      }
      // next = x + (x - x0) / σ · dt; for ε prediction (x - x0) / σ is the model output.
      const double dt = sigma_down - sigma;
      step.next_from_x = 1;
      if (s_.prediction == Prediction::kEpsilon) {
        step.next_from_out = dt;
      } else {
        step.next_from_x += dt / sigma;
        step.next_from_x0 = -dt / sigma;
      }
      step.draw_noise = true;  // EulerDiscreteScheduler draws (and, without churn, ignores) it
      step.next_from_noise = sigma_up;
      plan.steps.push_back(step);
    }
    return plan;
  }

  // DPM-Solver++ (or its SDE variant), order 1 or 2 multistep, data prediction, on
  // α = 1/√(σ²+1), σ_t = σ α; e^{-h} = σ_next / σ.
  // `begin`: the first step run (diffusers' begin index); the solver's history starts there.
  Result<SamplingPlan> DpmPlan(int steps, int begin) const {
    const std::vector<double> table = SigmaTable();
    std::vector<double> timesteps = DpmTimesteps(s_.spacing, T(), T(), steps, s_.steps_offset);
    std::vector<double> sigmas;
    if (s_.karras) {
      std::vector<double> log_sigmas;
      for (double sigma : table) log_sigmas.push_back(std::log(sigma));
      sigmas = KarrasSigmas(table.front(), table.back(), steps);
      for (int i = 0; i < steps; ++i) {
        timesteps[i] = RoundHalfEven(SigmaToTimestep(sigmas[i], log_sigmas));
      }
    } else {
      for (double t : timesteps) sigmas.push_back(Interpolate(table, t));
    }
    RETURN_IF_ERROR(CheckInSchedule(timesteps, s_));
    SamplingPlan plan;
    plan.sigmas = sigmas;
    plan.sigmas.push_back(s_.final_sigma_min ? table.front() : 0);
    for (int i = 0; i < steps; ++i) {
      const double s0 = plan.sigmas[i], st = plan.sigmas[i + 1];
      const double alpha_s = 1 / std::sqrt(s0 * s0 + 1), sigma_s = s0 * alpha_s;
      const double alpha_t = 1 / std::sqrt(st * st + 1), sigma_t = st * alpha_t;
      SchedulerStep step;
      step.timestep = timesteps[i];
      step.renoise_x0 = alpha_s;
      step.renoise_noise = sigma_s;
      switch (s_.prediction) {
        case Prediction::kEpsilon:
          step.x0_from_x = 1 / alpha_s;
          step.x0_from_out = -sigma_s / alpha_s;
          break;
        case Prediction::kV:
          step.x0_from_x = alpha_s;
          step.x0_from_out = -sigma_s;
          break;
        case Prediction::kSample: step.x0_from_out = 1; break;
      }
      step.clip_x0 = s_.clip;
      const bool last = i == steps - 1;
      const bool lower_order_final =
          last &&
          (s_.euler_at_final || (s_.lower_order_final && steps < 15) || !s_.final_sigma_min);
      const bool first_order = s_.solver_order == 1 || i == begin || lower_order_final;
      const double exp_neg_h = st / s0;
      double d0 = 0;  // coefficient of D0 = x0
      if (s_.sde) {
        step.next_from_x = sigma_t / sigma_s * exp_neg_h;
        d0 = alpha_t * (1 - exp_neg_h * exp_neg_h);
        step.next_from_noise = sigma_t * std::sqrt(1 - exp_neg_h * exp_neg_h);
        step.draw_noise = true;
      } else {
        step.next_from_x = sigma_t / sigma_s;
        d0 = -alpha_t * (exp_neg_h - 1);
      }
      step.next_from_x0 = d0;
      if (!first_order) {
        // D1 = (x0 - prev_x0) / r0, r0 = h_prev / h.
        const double h = std::log(s0 / st), h_prev = std::log(plan.sigmas[i - 1] / s0);
        const double r0 = h_prev / h;
        double d1 = 0;
        if (!s_.heun) {
          d1 = 0.5 * d0;
        } else if (s_.sde) {
          d1 = alpha_t * ((1 - exp_neg_h * exp_neg_h) / (-2 * h) + 1);
        } else {
          d1 = alpha_t * ((exp_neg_h - 1) / h + 1);
        }
        step.next_from_x0 += d1 / r0;
        step.next_from_prev_x0 = -d1 / r0;
      }
      plan.steps.push_back(step);
    }
    return plan;
  }

  // LCM: N of the original_inference_steps timesteps (k·i - 1, k = T / original), x0 turned
  // into the consistency output c_out·x0 + c_skip·x, renoised to the next timestep.
  Result<SamplingPlan> LcmPlan(int steps) const {
    const int original = s_.original_steps;
    if (original > T()) {
      return InvalidArgumentError("lcm: original_inference_steps " + std::to_string(original) +
                                  " exceeds num_train_timesteps " + std::to_string(T()));
    }
    if (steps > original) {
      return InvalidArgumentError("lcm: steps must be 1.." + std::to_string(original) +
                                  " (original_inference_steps)");
    }
    const int k = T() / original;
    const std::vector<double> index = Linspace(0, original, steps + 1);  // endpoint dropped
    std::vector<double> timesteps;
    for (int i = 0; i < steps; ++i) {
      const int j = static_cast<int>(std::floor(index[i]));  // into the descending list
      timesteps.push_back(static_cast<double>(original - j) * k - 1);
    }
    RETURN_IF_ERROR(CheckInSchedule(timesteps, s_));
    SamplingPlan plan;
    for (int i = 0; i < steps; ++i) {
      const double t = timesteps[i];
      const bool last = i == steps - 1;
      const double a_prev = AlphaBar(last ? t : timesteps[i + 1]);
      const double scaled = t * s_.timestep_scaling;
      constexpr double kSigmaData2 = 0.25;  // σ_data = 0.5
      SchedulerStep step;
      step.timestep = t;
      SetAlphaRenoise(AlphaBar(t), &step);
      SetAlphaX0(s_.prediction, AlphaBar(t), &step);
      step.clip_x0 = s_.clip;
      step.c_skip = kSigmaData2 / (scaled * scaled + kSigmaData2);
      step.c_out = scaled / std::sqrt(scaled * scaled + kSigmaData2);
      if (last) {
        step.next_from_x0 = 1;
      } else {
        step.next_from_x0 = std::sqrt(a_prev);
        step.next_from_noise = std::sqrt(1 - a_prev);
        step.draw_noise = true;
      }
      plan.steps.push_back(step);
    }
    return plan;
  }

  Kind kind_;
  std::string_view name_;
  Settings s_;
};

struct NamedKind {
  const char* name;
  Kind kind;
};
constexpr NamedKind kSchedulers[] = {
    {"ddim", Kind::kDdim},          {"ddpm", Kind::kDdpm},
    {"euler", Kind::kEuler},        {"euler_a", Kind::kEulerAncestral},
    {"dpmpp_2m", Kind::kDpmSolver}, {"lcm", Kind::kLcm},
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

const std::vector<std::string>& SchedulerNames() {
  static const auto* names = [] {
    auto* v = new std::vector<std::string>;
    for (const NamedKind& s : kSchedulers) v->push_back(s.name);
    return v;
  }();
  return *names;
}

Result<std::unique_ptr<Scheduler>> MakeScheduler(std::string_view name,
                                                 const SchedulerConfig& config) {
  for (const NamedKind& s : kSchedulers) {
    if (name != s.name) continue;
    ASSIGN_OR_RETURN(Settings settings, Resolve(s.kind, config));
    return std::unique_ptr<Scheduler>(new PlannedScheduler(s.kind, s.name, std::move(settings)));
  }
  return InvalidArgumentError("unknown scheduler '" + std::string(name) +
                              "'; known: ddim, ddpm, euler, euler_a, dpmpp_2m, lcm");
}

void ApplySchedulerStep(const SchedulerStep& s, std::span<const float> x,
                        std::span<const float> out, std::span<const float> prev_x0,
                        std::span<const float> noise, std::span<float> x0, std::span<float> next) {
  for (size_t i = 0; i < x.size(); ++i) {
    double estimate = s.x0_from_x * x[i] + s.x0_from_out * out[i];
    if (s.clip_x0 > 0) estimate = std::clamp(estimate, -s.clip_x0, s.clip_x0);
    estimate = s.c_out * estimate + s.c_skip * x[i];
    double value = s.next_from_x * x[i] + s.next_from_out * out[i] + s.next_from_x0 * estimate;
    if (s.next_from_prev_x0 != 0) value += s.next_from_prev_x0 * prev_x0[i];
    if (s.next_from_noise != 0) value += s.next_from_noise * noise[i];
    x0[i] = static_cast<float>(estimate);
    next[i] = static_cast<float>(value);
  }
}

}  // namespace stipple
