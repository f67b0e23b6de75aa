#include "engine/scheduler_timesteps.h"

#include <algorithm>
#include <cmath>

namespace stipple::scheduler_math {

std::vector<double> Linspace(double start, double stop, int num) {
  std::vector<double> y(num);
  const double step = num > 1 ? (stop - start) / (num - 1) : 0;
  for (int i = 0; i < num; ++i) y[i] = i * step + start;
  if (num > 1) y[num - 1] = stop;
  return y;
}

std::vector<double> ArangeDown(double start, double step, int count) {
  // numpy fills a float arange as start + i * delta, delta = (start + (-step)) - start.
  const double delta = (start - step) - start;
  const int length = static_cast<int>(std::ceil((0.0 - start) / -step));
  count = std::min(count, std::max(length, 0));
  std::vector<double> y(count);
  for (int i = 0; i < count; ++i) y[i] = i == 0 ? start : i == 1 ? start - step : start + i * delta;
  return y;
}

double RoundHalfEven(double v) { return std::nearbyint(v); }  // the default mode: to even

double ToFloat32(double v) { return static_cast<double>(static_cast<float>(v)); }

std::vector<double> SpacedTimesteps(std::string_view spacing, int train_timesteps, int steps,
                                    int steps_offset, bool round_linspace) {
  const int T = train_timesteps;
  std::vector<double> t;
  if (spacing == "leading") {
    const int ratio = T / steps;
    for (int i = steps - 1; i >= 0; --i) t.push_back(static_cast<double>(i) * ratio + steps_offset);
  } else if (spacing == "trailing") {
    for (double v : ArangeDown(T, static_cast<double>(T) / steps, steps)) {
      t.push_back(RoundHalfEven(v) - 1);
    }
  } else {  // linspace
    std::vector<double> y = Linspace(0, T - 1, steps);
    for (auto it = y.rbegin(); it != y.rend(); ++it) {
      t.push_back(round_linspace ? RoundHalfEven(*it) : *it);
    }
  }
  return t;
}

std::vector<double> DpmTimesteps(std::string_view spacing, int last_timestep, int train_timesteps,
                                 int steps, int steps_offset) {
  std::vector<double> t;
  if (spacing == "linspace") {
    std::vector<double> y = Linspace(0, last_timestep - 1, steps + 1);
    for (int i = steps; i >= 1; --i) t.push_back(RoundHalfEven(y[i]));
  } else if (spacing == "leading") {
    const int ratio = last_timestep / (steps + 1);
    for (int i = steps; i >= 1; --i) t.push_back(static_cast<double>(i) * ratio + steps_offset);
  } else {  // trailing
    for (double v :
         ArangeDown(last_timestep, static_cast<double>(train_timesteps) / steps, steps)) {
      t.push_back(RoundHalfEven(v) - 1);
    }
  }
  return t;
}

double Interpolate(const std::vector<double>& table, double t) {
  const int last = static_cast<int>(table.size()) - 1;
  if (t <= 0) return table[0];
  if (t >= last) return table[last];
  const int lo = static_cast<int>(std::floor(t));
  const double slope = table[lo + 1] - table[lo];
  return slope * (t - lo) + table[lo];
}

double SigmaToTimestep(double sigma, const std::vector<double>& log_sigmas) {
  const double log_sigma = std::log(std::max(sigma, 1e-10));
  const int n = static_cast<int>(log_sigmas.size());
  // The last index whose log σ does not exceed log_sigma (0 when none), at most n - 2.
  int low = 0;
  for (int i = 0; i < n; ++i) {
    if (log_sigma - log_sigmas[i] >= 0) low = i;
  }
  low = std::min(low, n - 2);
  const double lo = log_sigmas[low], hi = log_sigmas[low + 1];
  const double w = std::clamp((lo - log_sigma) / (lo - hi), 0.0, 1.0);
  return (1 - w) * low + w * (low + 1);
}

std::vector<double> KarrasSigmas(double sigma_min, double sigma_max, int steps) {
  constexpr double kRho = 7.0;
  const double min_inv_rho = std::pow(sigma_min, 1 / kRho);
  const double max_inv_rho = std::pow(sigma_max, 1 / kRho);
  std::vector<double> sigmas;
  for (double ramp : Linspace(0, 1, steps)) {
    sigmas.push_back(std::pow(max_inv_rho + ramp * (min_inv_rho - max_inv_rho), kRho));
  }
  return sigmas;
}

}  // namespace stipple::scheduler_math
