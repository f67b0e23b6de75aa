// engine_bench: the engine on this machine's CPU with the shipped model — steps/s and images/s at
// batch 1, 4 and 8 (20 DDIM steps), the time per 20-step image, what progress reporting and
// cancel checks cost per step (24 paired runs), and side by side in the same run the PyTorch-eager
// baseline (bench/pytorch/baseline.py on Debian's python3-torch, the same safetensors), whose final
// images from the same seeds must match ours within 1e-3 (parity).
//
//   engine_bench [--device cpu|cuda[:N]] [MODEL_DIR]     default: cpu, the repository's
//                                                      models/shapes-32
//
// On a GPU (--device cuda) both sides run there; noise is still drawn on the CPU, so parity holds.
//
// It links the pipeline itself (not only the Engine interface) for the parity check: the PNG
// rounds to 1/255, so the comparison is made on the float images before encoding.
#include <torch/torch.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "bench/bench_report.h"
#include "engine/cancel_token.h"
#include "engine/torch/pipeline.h"
#include "engine/torch_engine.h"

namespace stipple {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kSteps = 20;
constexpr int kParityImages = 4;
constexpr uint32_t kParitySeed = 1234;
const char* const kPrompts[] = {"a big red circle on the left",
                                "a small blue triangle at the top",
                                "green square in the middle",
                                "a large yellow circle at the bottom",
                                "purple triangle, small, on the right",
                                "a cyan square at the top",
                                "the circle is orange and small, center",
                                "white triangle big left"};

std::vector<EngineJob> Jobs(const ModelLimits& limits, int count, uint32_t first_seed) {
  std::vector<EngineJob> jobs;
  for (int i = 0; i < count; ++i) {
    GenerationRequest r;
    r.prompt = kPrompts[i % std::size(kPrompts)];
    r.model = limits.name;
    r.width = limits.width;
    r.height = limits.height;
    r.steps = kSteps;
    r.guidance_scale = limits.default_guidance_scale;
    r.scheduler = "ddim";
    r.seed = first_seed + static_cast<uint32_t>(i);
    jobs.push_back({r, nullptr});
  }
  return jobs;
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Seconds per Generate call of `jobs`, run for about `budget_s` (at least `min_runs` times).
double TimeGenerate(Engine& engine, const std::vector<EngineJob>& jobs, const ProgressSink& sink,
                    double budget_s, int min_runs) {
  int runs = 0;
  const auto start = Clock::now();
  while (runs < min_runs || Seconds(Clock::now() - start) < budget_s) {
    auto results = engine.Generate(jobs, sink);
    if (!results[0].ok()) {
      std::fprintf(stderr, "engine_bench: %s\n", results[0].status().ToString().c_str());
      std::exit(1);
    }
    ++runs;
  }
  return Seconds(Clock::now() - start) / runs;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Runs the Python baseline; returns its JSON report (empty object when it could not run).
// STIPPLE_BENCH_PYTHON names the interpreter (default /usr/bin/python3, Debian's python3-torch).
boost::json::object RunBaseline(const std::string& model_dir, const std::string& device,
                                const std::string& parity_file, int threads) {
  const char* python = std::getenv("STIPPLE_BENCH_PYTHON");
  const std::string command = std::string(python != nullptr ? python : "/usr/bin/python3") +
                              " " STIPPLE_SOURCE_DIR "/bench/pytorch/baseline.py --model-dir '" +
                              model_dir + "' --device '" + device + "' --threads " +
                              std::to_string(threads) + " --parity-out '" + parity_file +
                              "' --parity-seed " + std::to_string(kParitySeed);
  std::FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return {};
  std::string out;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  if (pclose(pipe) != 0) return {};
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(out, ec);
  return !ec && v.is_object() ? v.as_object() : boost::json::object{};
}

// Our final images of the parity jobs in [0, 1], (N, 3, H, W) flattened.
std::vector<float> OurParityImages(const std::string& model_dir, const std::string& device,
                                   const ModelLimits& limits) {
  auto pipeline = torch_engine::LoadPipeline(model_dir, torch::Device(device), 0);
  if (!pipeline.ok()) return {};
  std::vector<EngineJob> jobs = Jobs(limits, kParityImages, kParitySeed);
  std::vector<Status> admitted(jobs.size());
  std::vector<Result<std::vector<GeneratedImage>>> results;
  auto samples = (*pipeline)->Sample(jobs, admitted, nullptr, &results);
  torch::Tensor images = ((samples.images + 1) / 2).clamp(0, 1).contiguous().to(torch::kCPU);
  return std::vector<float>(images.data_ptr<float>(), images.data_ptr<float>() + images.numel());
}

double Number(const boost::json::object& o, const char* batch, const char* key) {
  const boost::json::value* b =
      o.contains("batches") ? o.at("batches").as_object().if_contains(batch) : nullptr;
  return b != nullptr ? b->as_object().at(key).to_number<double>() : 0.0;
}

int Run(const std::string& model_dir, const std::string& device) {
  auto loaded = TorchEngine::Load(model_dir, {.device = device, .threads = 0, .preview_every = 0});
  if (!loaded.ok()) {
    std::fprintf(stderr, "engine_bench: %s\n", loaded.status().ToString().c_str());
    return 1;
  }
  Engine& engine = **loaded;
  const ModelLimits limits = engine.limits();
  const int threads = torch::get_num_threads();
  TimeGenerate(engine, Jobs(limits, 1, 1), nullptr, 0, 1);  // warm-up

  std::fprintf(stderr, "engine_bench: PyTorch-eager baseline...\n");
  const std::string parity_file = "/tmp/stipple_engine_bench_parity.f32";
  boost::json::object baseline = RunBaseline(model_dir, device, parity_file, threads);

  bench::BenchReport report("engine_bench");
  std::fprintf(stderr, "engine_bench: stipple...\n");
  double images_per_s_batch1 = 0;
  for (int batch : {1, 4, 8}) {
    const double s = TimeGenerate(engine, Jobs(limits, batch, 100), nullptr, 6.0, 2);
    const std::string b = std::to_string(batch);
    const double base_steps = Number(baseline, b.c_str(), "steps_per_s");
    const double base_images = Number(baseline, b.c_str(), "images_per_s");
    report.Add("steps_per_s_batch" + b, kSteps / s, "steps/s", base_steps);
    report.Add("images_per_s_batch" + b, batch / s, "images/s", base_images);
    if (batch == 1) {
      images_per_s_batch1 = 1 / s;
      report.Add("seconds_per_20_step_image", s, "s", Number(baseline, "1", "seconds_per_run"));
    }
    if (batch == 8)
      report.Add("batch8_vs_batch1_images_per_s", batch / s, "images/s", images_per_s_batch1);
  }

  // Progress + cancel checks: the same batch-1 run with and without a sink and a token, in
  // pairs whose order alternates (ABBA) so drift hits both alike; the median of the paired
  // differences per step, as a share of a step.
  std::vector<double> plain, differences;
  CancelToken token;
  int events = 0;
  ProgressSink sink = [&events](const ProgressEvent&) { ++events; };
  std::vector<EngineJob> with_token = Jobs(limits, 1, 7);
  with_token[0].cancel = &token;
  for (int i = 0; i < 24; ++i) {
    double without = 0, with = 0;
    if (i % 2 == 0) {
      without = TimeGenerate(engine, Jobs(limits, 1, 7), nullptr, 0, 1);
      with = TimeGenerate(engine, with_token, sink, 0, 1);
    } else {
      with = TimeGenerate(engine, with_token, sink, 0, 1);
      without = TimeGenerate(engine, Jobs(limits, 1, 7), nullptr, 0, 1);
    }
    plain.push_back(without);
    differences.push_back(with - without);
  }
  const double step_s = Median(plain) / kSteps;
  report.Add("progress_cancel_overhead_per_step", 100 * Median(differences) / kSteps / step_s,
             "% of a step");

  std::vector<float> ours = OurParityImages(model_dir, device, limits);
  std::ifstream in(parity_file, std::ios::binary);
  std::vector<float> theirs(ours.size());
  in.read(reinterpret_cast<char*>(theirs.data()),
          static_cast<std::streamsize>(theirs.size() * sizeof(float)));
  double max_diff = -1;
  if (in && !ours.empty()) {
    max_diff = 0;
    for (size_t i = 0; i < ours.size(); ++i) {
      max_diff = std::max(max_diff, static_cast<double>(std::abs(ours[i] - theirs[i])));
    }
  }
  report.Add("parity_max_abs_diff", max_diff, "[0,1] units", 1e-3);
  report.Print();
  if (baseline.empty()) {
    std::printf("baseline: did not run (needs /usr/bin/python3 with python3-torch)\n");
  } else {
    std::printf(
        "baseline: PyTorch %s eager, %d threads; stipple: libtorch %s, %d threads; "
        "device %s\n",
        baseline.at("torch").as_string().c_str(), threads, TORCH_VERSION, threads, device.c_str());
  }
  std::printf("parity (%d images, seeds %u..): max |stipple - pytorch| = %.2e in [0,1]: %s\n",
              kParityImages, kParitySeed, max_diff,
              max_diff >= 0 && max_diff <= 1e-3 ? "PASS (<= 1e-3)" : "FAIL");
  return 0;
}

}  // namespace
}  // namespace stipple

int main(int argc, char** argv) {
  std::string device = "cpu";
  std::string model_dir = STIPPLE_SOURCE_DIR "/models/shapes-32";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--device" && i + 1 < argc) {
      device = argv[++i];
    } else if (arg.rfind("--", 0) == 0) {
      std::fprintf(stderr, "usage: engine_bench [--device cpu|cuda[:N]] [MODEL_DIR]\n");
      return 2;
    } else {
      model_dir = arg;
    }
  }
  return stipple::Run(model_dir, device);
}
