// Every scheduler against diffusers 0.27.2 (testdata/schedulers, made by
// tools/goldens/schedulers.py): for a table of scheduler_config.json files × each scheduler ×
// 1, 2, 4, 7 and 20 steps, the timesteps, sigmas, init_noise_sigma, which steps draw noise, and
// a trajectory from a fixed start with fixed model outputs and noise: each step's model input,
// next sample and x0 estimate. Within 1e-5 relative: a scalar relative to max(|value|, 1), a
// tensor's largest difference relative to max(its largest magnitude, 1) — diffusers computes in
// float32, so elements near zero carry its rounding, not ours.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "engine/safetensors.h"
#include "engine/scheduler_config.h"
#include "engine/schedulers.h"

namespace stipple {
namespace {

namespace json = boost::json;

const std::string kDir = std::string(STIPPLE_ENGINE_TESTDATA) + "/schedulers/";
constexpr double kTolerance = 1e-5;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A scalar's error: |got - want| relative to max(|want|, 1).
double Error(double got, double want) {
  return std::abs(got - want) / std::max(std::abs(want), 1.0);
}

std::vector<double> Doubles(const json::value& v) {
  std::vector<double> out;
  for (const json::value& e : v.as_array()) out.push_back(e.to_number<double>());
  return out;
}

class SchedulerGoldens : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cases_ = new json::object(json::parse(ReadFile(kDir + "cases.json")).as_object());
    Result<SafetensorsFile> file = ReadSafetensorsFile(kDir + "trajectories.safetensors");
    ASSERT_TRUE(file.ok()) << file.status().ToString();
    tensors_ = new SafetensorsFile(std::move(file).value());
  }
  static void TearDownTestSuite() {
    delete cases_;
    delete tensors_;
  }

  // The config of a row of the table, read from its file as diffusers read it.
  static SchedulerConfig Config(const std::string& name) {
    Result<SchedulerConfig> config = ParseSchedulerConfig(ReadFile(kDir + name + ".json"), name);
    EXPECT_TRUE(config.ok()) << config.status().ToString();
    return config.ok() ? *config : SchedulerConfig{};
  }

  static std::span<const float> Row(const FloatTensor& t, int row, int width) {
    return std::span<const float>(t.values).subspan(static_cast<size_t>(row) * width, width);
  }

  // Checks one case; returns the worst error seen.
  static double Check(const std::string& case_name, const json::object& want) {
    const std::string config_name = case_name.substr(0, case_name.find('.'));
    const std::string rest = case_name.substr(config_name.size() + 1);
    const std::string scheduler_name = rest.substr(0, rest.find('.'));
    const int steps = std::stoi(rest.substr(scheduler_name.size() + 1));

    Result<std::unique_ptr<Scheduler>> scheduler =
        MakeScheduler(scheduler_name, Config(config_name));
    Result<SamplingPlan> made =
        scheduler.ok() ? (*scheduler)->Plan(steps) : Result<SamplingPlan>(scheduler.status());
    if (want.contains("error")) {
      EXPECT_EQ(made.status().code(), StatusCode::kInvalidArgument)
          << case_name << ": diffusers refuses it: " << want.at("error").as_string();
      return 0;
    }
    if (!made.ok()) {
      ADD_FAILURE() << case_name << ": " << made.status().ToString();
      return 0;
    }
    const SamplingPlan& plan = *made;
    double worst = 0;
    auto expect_near = [&](double got, double expected, const std::string& what) {
      const double e = Error(got, expected);
      worst = std::max(worst, e);
      EXPECT_LE(e, kTolerance) << case_name << " " << what << ": got " << got << ", want "
                               << expected;
    };
    // A tensor's error: the largest difference relative to max(its largest magnitude, 1).
    auto expect_tensor = [&](const std::vector<double>& got, std::span<const float> expected,
                             const std::string& what) {
      double scale = 1, diff = 0;
      for (size_t j = 0; j < got.size(); ++j) {
        scale = std::max(scale, std::abs(static_cast<double>(expected[j])));
        diff = std::max(diff, std::abs(got[j] - expected[j]));
      }
      const double e = diff / scale;
      worst = std::max(worst, e);
      EXPECT_LE(e, kTolerance) << case_name << " " << what;
    };
    const std::vector<double> timesteps = Doubles(want.at("timesteps"));
    EXPECT_EQ(plan.steps.size(), timesteps.size()) << case_name;
    if (plan.steps.size() != timesteps.size()) return worst;
    for (int i = 0; i < steps; ++i) {
      expect_near(plan.steps[i].timestep, timesteps[i], "timestep " + std::to_string(i));
    }
    if (want.at("sigmas").is_null()) {
      EXPECT_TRUE(plan.sigmas.empty()) << case_name;
    } else {
      const std::vector<double> sigmas = Doubles(want.at("sigmas"));
      EXPECT_EQ(plan.sigmas.size(), sigmas.size()) << case_name;
      for (size_t i = 0; i < std::min(sigmas.size(), plan.sigmas.size()); ++i) {
        expect_near(plan.sigmas[i], sigmas[i], "sigma " + std::to_string(i));
      }
    }
    expect_near(plan.init_noise_scale, want.at("init_noise_sigma").to_number<double>(),
                "init_noise_sigma");
    const json::array& draws = want.at("draws").as_array();
    for (int i = 0; i < steps; ++i) {
      EXPECT_EQ(plan.steps[i].draw_noise, draws[i].as_bool()) << case_name << " step " << i;
    }

    // The trajectory, on our own samples from the start.
    const FloatTensor& start = tensors_->tensors.at("x");
    const FloatTensor& outputs = tensors_->tensors.at("model_output");
    const FloatTensor& noises = tensors_->tensors.at("noise");
    const FloatTensor& golden = tensors_->tensors.at(case_name);  // (steps, 3, n)
    const int n = static_cast<int>(start.values.size());
    std::vector<float> x(n), prev_x0(n, 0.0f), x0(n), next(n);
    for (int j = 0; j < n; ++j) {
      x[j] = static_cast<float>(start.values[j] * plan.init_noise_scale);
    }
    for (int i = 0; i < steps; ++i) {
      const SchedulerStep& step = plan.steps[i];
      std::span<const float> input = Row(golden, 3 * i, n), want_next = Row(golden, 3 * i + 1, n),
                             want_x0 = Row(golden, 3 * i + 2, n);
      ApplySchedulerStep(step, x, Row(outputs, i, n), prev_x0,
                         step.draw_noise ? Row(noises, i, n) : std::span<const float>(), x0, next);
      const std::string at = "step " + std::to_string(i);
      std::vector<double> scaled(n);
      for (int j = 0; j < n; ++j) scaled[j] = step.input_scale * x[j];
      expect_tensor(scaled, input, "model input " + at);
      expect_tensor(std::vector<double>(next.begin(), next.end()), want_next, "next " + at);
      expect_tensor(std::vector<double>(x0.begin(), x0.end()), want_x0, "x0 " + at);
      prev_x0 = x0;
      x = next;
      if (::testing::Test::HasFailure()) break;
    }
    return worst;
  }

  static json::object* cases_;
  static SafetensorsFile* tensors_;
};

json::object* SchedulerGoldens::cases_ = nullptr;
SafetensorsFile* SchedulerGoldens::tensors_ = nullptr;

TEST_F(SchedulerGoldens, EveryConfigSchedulerAndStepCountMatchesDiffusers) {
  ASSERT_GE(cases_->size(), 300u);
  std::map<std::string, double> worst_by_scheduler;
  for (const auto& [name, want] : *cases_) {
    const std::string case_name(name);
    const double worst = Check(case_name, want.as_object());
    std::string scheduler = case_name.substr(case_name.find('.') + 1);
    scheduler = scheduler.substr(0, scheduler.find('.'));
    worst_by_scheduler[scheduler] = std::max(worst_by_scheduler[scheduler], worst);
    if (HasFailure()) break;  // one case's messages are enough
  }
  for (const auto& [scheduler, worst] : worst_by_scheduler) {
    std::cout << "  " << scheduler << ": worst relative error " << worst << "\n";
  }
}

TEST_F(SchedulerGoldens, TheDefaultSchedulerOfEachConfigFile) {
  const std::map<std::string, std::string> want = {
      {"sd15_pndm", "ddim"},          {"sd2_v", "ddim"},
      {"sdxl_euler", "euler"},        {"turbo_trailing", "euler_a"},
      {"linspace_clip", "ddim"},      {"karras_dpm", "dpmpp_2m"},
      {"dpm_sde_heun_v", "dpmpp_2m"}, {"lcm", "lcm"},
      {"sample_pred", "ddpm"}};
  for (const auto& [config, scheduler] : want) {
    EXPECT_EQ(Config(config).default_scheduler, scheduler) << config;
  }
}

}  // namespace
}  // namespace stipple
