// engine_bench: the Stable Diffusion pipeline on this machine against diffusers 0.27.2 in PyTorch
// eager, in the same run, on the same model folder, with the same thread count.
//
// The model is a small SD-shaped one with random weights (sd_shaped_fixture.h, kBenchShape): SD
// 1.5's UNet2DConditionModel block types and config at 3/10 of its widths (96/192/384/384, 8
// heads), the full ViT-L/14 text encoder, the four-level AutoencoderKL at a quarter of its widths;
// 128×128 images (16×16 latents). Why so small: docs/benchmarks.md. It is written once into the
// build folder and both sides load that folder; MODEL_DIR runs another SD 1.x diffusers folder
// (single-file UNet and VAE weights, as diffusers 0.27 reads) instead, at the same size and steps.
// The work timed on each side is one text-to-image call: the prompts and the empty negative prompts
// through the text encoder, kSteps DDIM steps with classifier-free guidance (both halves in one
// UNet call), the VAE decode to uint8 pixels — at batch 1 and 4. Figures: steps/s at batch 1 (steps
// ÷ the whole call's seconds), seconds per image at batch 1, images/s at batch 4, each with
// diffusers' figure beside it, and parity: the largest difference between the two sides' pixels of
// the same seeds (must be ≤ 2/255). Medians of several runs after a warm-up; stipple's runs are
// split before and after the baseline's so that drift in the machine's load hits both.
//
//   engine_bench [--device cpu|cuda[:N]] [--threads N] [--runs N] [--profile] [MODEL_DIR]
//
// --runs: timed runs per batch size on each side (default 4; stipple does half before the
// baseline and half after).
//
// The baseline (bench/diffusers_baseline.py) runs with /usr/bin/python3 (STIPPLE_BENCH_PYTHON
// overrides) in the reference environment: STIPPLE_REFERENCE_DIR, default ../shared/reference
// beside the source tree (its env.sh). Without it, engine_bench says so and prints stipple's own
// figures. STIPPLE_BENCH_ATTENTION=bmm runs the baseline's attention scores as a plain bmm instead
// of diffusers' baddbmm (see bench/diffusers_baseline.py). --profile adds each part's seconds alone
// (text encoder, one UNet call, VAE decode) and the time by operator kind of one batch-1 call
// (bench/profile_breakdown.py over both sides' traces).
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_report.h"
#include "engine/model_files.h"
#include "engine/torch/sd_loader.h"
#include "engine/torch/sd_pipeline.h"
#include "engine/torch/sd_shaped_fixture.h"

namespace stipple {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kSteps = 8;
constexpr int kSize = 128;
constexpr uint32_t kSeed = 1234;
constexpr double kGuidance = 7.5;
const char* const kPrompts[] = {"a photo of a cat on a sofa", "an astronaut riding a horse",
                                "a watercolor of a lighthouse at dusk",
                                "a bowl of fruit, studio lighting"};

SdShape BenchShape() {
  SdShape shape;
  shape.unet_channels = {96, 192, 384, 384};
  shape.vae_channels = {32, 64, 128, 128};
  shape.sample_size = kSize / 8;
  return shape;
}
// Written beside the folder: a folder written for another shape is rewritten.
constexpr const char* kShapeStamp = "unet 96,192,384,384; vae 32,64,128,128; 128x128; seed 1";

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string Quote(const std::string& s) { return "'" + s + "'"; }

// The bench model at `dir`: written unless it is there with the current shape's stamp.
bool EnsureModel(const std::string& dir) {
  const fs::path stamp = fs::path(dir) / "engine_bench_shape.txt";
  std::ifstream in(stamp);
  std::string line;
  if (in && std::getline(in, line) && line == kShapeStamp) return true;
  std::fprintf(stderr, "engine_bench: writing the bench model to %s...\n", dir.c_str());
  std::error_code ec;
  fs::remove_all(dir, ec);
  Status written = WriteSdShapedModel(dir, BenchShape(), 1);
  if (!written.ok()) {
    std::fprintf(stderr, "engine_bench: %s\n", written.ToString().c_str());
    return false;
  }
  std::ofstream(stamp) << kShapeStamp << "\n";
  return true;
}

std::vector<EngineJob> Jobs(int batch) {
  std::vector<EngineJob> jobs;
  for (int i = 0; i < batch; ++i) {
    GenerationRequest r;
    r.prompt = kPrompts[i % std::size(kPrompts)];
    r.width = r.height = kSize;
    r.steps = kSteps;
    r.guidance_scale = kGuidance;
    r.scheduler = "ddim";
    r.seed = kSeed + static_cast<uint32_t>(i);
    r.num_images = 1;
    jobs.push_back({r, nullptr});
  }
  return jobs;
}

// One text-to-image call of `batch` images; its seconds, its pixels in *pixels.
double TimeSample(torch_engine::SdPipeline& pipeline, int batch, torch::Tensor* pixels) {
  std::vector<EngineJob> jobs = Jobs(batch);
  std::vector<Status> admitted(jobs.size());
  std::vector<Result<std::vector<GeneratedImage>>> results;
  const auto start = Clock::now();
  torch_engine::SdPipeline::Samples samples = pipeline.Sample(jobs, admitted, nullptr, &results);
  const double s = Seconds(Clock::now() - start);
  for (const auto& r : results) {
    if (!r.ok()) {
      std::fprintf(stderr, "engine_bench: %s\n", r.status().ToString().c_str());
      std::exit(1);
    }
  }
  if (pixels != nullptr) *pixels = samples.pixels;
  return s;
}

// The reference environment's env.sh, or "" when absent.
std::string ReferenceEnv() {
  const char* dir = std::getenv("STIPPLE_REFERENCE_DIR");
  const fs::path env =
      fs::path(dir != nullptr ? dir : STIPPLE_SOURCE_DIR "/../shared/reference") / "env.sh";
  std::error_code ec;
  return fs::exists(env, ec) ? fs::weakly_canonical(env, ec).string() : "";
}

std::string Python() {
  const char* python = std::getenv("STIPPLE_BENCH_PYTHON");
  return python != nullptr ? python : "/usr/bin/python3";
}

// Runs `command` under sh; its stdout, or nullopt when it failed.
std::optional<std::string> Capture(const std::string& command) {
  std::FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return std::nullopt;
  std::string out;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  if (pclose(pipe) != 0) return std::nullopt;
  return out;
}

// Runs the diffusers baseline; its JSON report (empty when it could not run).
boost::json::object RunBaseline(const std::string& env, const std::string& model_dir,
                                const std::string& device, int threads, int runs,
                                const std::string& pixels_file, const std::string& trace_file) {
  std::string command = ". " + Quote(env) + " && exec " + Python() +
                        " " STIPPLE_SOURCE_DIR "/bench/diffusers_baseline.py --model-dir " +
                        Quote(model_dir) + " --device " + Quote(device) + " --threads " +
                        std::to_string(threads) + " --steps " + std::to_string(kSteps) +
                        " --size " + std::to_string(kSize) + " --seed " + std::to_string(kSeed) +
                        " --reps " + std::to_string(runs) + " --guidance " +
                        std::to_string(kGuidance) + " --pixels-out " + Quote(pixels_file);
  for (const char* prompt : kPrompts) command += " --prompt " + Quote(prompt);
  if (!trace_file.empty()) command += " --profile-out " + Quote(trace_file);
  if (const char* attention = std::getenv("STIPPLE_BENCH_ATTENTION")) {
    command += " --attention " + Quote(attention);  // "baddbmm" (default) or "bmm"
  }
  std::optional<std::string> out = Capture("bash -c " + Quote(command));
  if (!out) return {};
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(*out, ec);
  return !ec && v.is_object() ? v.as_object() : boost::json::object{};
}

double BaselineMedian(const boost::json::object& baseline, const char* batch) {
  if (!baseline.contains("seconds")) return 0;
  std::vector<double> runs;
  for (const auto& s : baseline.at("seconds").as_object().at(batch).as_array()) {
    runs.push_back(s.to_number<double>());
  }
  return Median(runs);
}

// The largest |ours - theirs| in pixel levels over the batch-1 and batch-4 images; -1 when the
// baseline's file is missing or short.
int ParityLevels(const std::string& pixels_file, const torch::Tensor& b1, const torch::Tensor& b4) {
  torch::Tensor ours = torch::cat({b1.flatten(), b4.flatten()}).to(torch::kCPU).contiguous();
  std::vector<uint8_t> theirs(static_cast<size_t>(ours.numel()));
  std::ifstream in(pixels_file, std::ios::binary);
  in.read(reinterpret_cast<char*>(theirs.data()), static_cast<std::streamsize>(theirs.size()));
  if (!in) return -1;
  const uint8_t* p = ours.data_ptr<uint8_t>();
  int worst = 0;
  for (size_t i = 0; i < theirs.size(); ++i) worst = std::max(worst, std::abs(p[i] - theirs[i]));
  return worst;
}

// Median seconds of each part alone, as the baseline's `parts`.
void ProfileParts(torch_engine::SdPipeline& pipeline, torch::Device device, int runs,
                  bench::BenchReport& report, const boost::json::object& baseline) {
  const torch_engine::SdModel& model = pipeline.model();
  c10::InferenceMode inference;
  const int64_t h = kSize / 8;
  torch::Tensor ids = torch::zeros({1, 77}, torch::kLong).to(device);
  torch::Tensor x = torch::randn({2, 4, h, h}).to(device);
  torch::Tensor t = torch::full({2}, 500.0f).to(device);
  const int64_t width = model.unet->config.cross_attention_dim.front();
  torch::Tensor context = torch::randn({2, 77, width}).to(device);
  torch::Tensor z = torch::randn({1, 4, h, h}).to(device);
  auto median_of = [&](const std::function<void()>& call) {
    call();
    std::vector<double> times;
    for (int i = 0; i < runs; ++i) {
      const auto start = Clock::now();
      call();
      if (device.is_cuda()) torch::cuda::synchronize();
      times.push_back(Seconds(Clock::now() - start));
    }
    return Median(times);
  };
  const boost::json::object* parts =
      baseline.contains("parts") ? &baseline.at("parts").as_object() : nullptr;
  auto add = [&](const char* name, double s) {
    if (parts != nullptr && parts->contains(name)) {
      // Seconds: lower is better, so the ratio is theirs ÷ ours as a speed-up.
      report.Add(std::string("part_") + name + "_speedup", parts->at(name).to_number<double>() / s,
                 "x", 1.0);
    }
    report.Add(std::string("part_") + name + "_s", s, "s");
  };
  // Copies of the holders (the model is const; the modules are shared).
  torch_engine::ClipTextModel encoder = model.text_encoder;
  torch_engine::UNet2DCondition unet = model.unet;
  torch_engine::AutoencoderKL vae = model.vae;
  add("text_encoder", median_of([&] { encoder->forward(ids); }));
  add("unet_step", median_of([&] { unet->forward(x, t, context); }));
  add("vae_decode", median_of([&] { vae->Decode(z); }));
}

int Run(std::string model_dir, const std::string& device_name, int threads, int runs,
        bool profile) {
  const int runs_each_side = std::max(1, runs / 2);
  const bool bench_model = model_dir.empty();
  if (bench_model) model_dir = STIPPLE_BENCH_MODEL_DIR;
  if (bench_model && !EnsureModel(model_dir)) return 1;
  at::set_num_threads(threads);
  const torch::Device device(device_name);
  Result<ModelPath> path = ModelAt(model_dir);
  Result<std::unique_ptr<torch_engine::SdPipeline>> loaded =
      path.ok() ? torch_engine::LoadSdPipeline(*path, {.device = device_name, .preview_every = 0},
                                               device, torch::kFloat)
                : Result<std::unique_ptr<torch_engine::SdPipeline>>(path.status());
  if (!loaded.ok()) {
    std::fprintf(stderr, "engine_bench: %s\n", loaded.status().ToString().c_str());
    return 1;
  }
  torch_engine::SdPipeline& pipeline = **loaded;

  std::fprintf(stderr, "engine_bench: stipple, %d threads...\n", threads);
  TimeSample(pipeline, 1, nullptr);  // warm-up
  std::vector<double> ours1, ours4;
  torch::Tensor pixels1, pixels4;
  auto time_ours = [&] {
    for (int i = 0; i < runs_each_side; ++i) {
      ours1.push_back(TimeSample(pipeline, 1, &pixels1));
      ours4.push_back(TimeSample(pipeline, 4, &pixels4));
    }
  };
  time_ours();

  const std::string env = ReferenceEnv();
  const std::string pixels_file = fs::temp_directory_path() / "stipple_engine_bench_pixels.u8";
  const std::string their_trace =
      profile ? (fs::temp_directory_path() / "stipple_engine_bench_diffusers.json").string() : "";
  boost::json::object baseline;
  if (!env.empty()) {
    std::fprintf(stderr, "engine_bench: diffusers baseline...\n");
    baseline = RunBaseline(env, model_dir, device_name, threads, runs, pixels_file, their_trace);
  }
  time_ours();

  bench::BenchReport report("engine_bench");
  const double s1 = Median(ours1), s4 = Median(ours4);
  const double b1 = BaselineMedian(baseline, "1"), b4 = BaselineMedian(baseline, "4");
  auto add = [&](const std::string& metric, double value, const char* unit, double base) {
    if (base > 0) {
      report.Add(metric, value, unit, base);
    } else {
      report.Add(metric, value, unit);
    }
  };
  add("steps_per_s_batch1", kSteps / s1, "steps/s", b1 > 0 ? kSteps / b1 : 0);
  add("seconds_per_image_batch1", s1, "s", b1);
  add("images_per_s_batch4", 4 / s4, "images/s", b4 > 0 ? 4 / b4 : 0);
  const int parity = baseline.empty() ? -1 : ParityLevels(pixels_file, pixels1, pixels4);
  if (parity >= 0) report.Add("parity_max_pixel_diff", parity, "levels of 255", 2);

  std::string our_trace;
  if (profile) {
    ProfileParts(pipeline, device, runs, report, baseline);
    our_trace = (fs::temp_directory_path() / "stipple_engine_bench_stipple.json").string();
    torch::autograd::profiler::RecordProfile guard(our_trace);
    TimeSample(pipeline, 1, nullptr);
  }
  report.Print();

  const std::string described =
      bench_model ? "SD 1.5 structure, random weights (" + std::string(kShapeStamp) + ")"
                  : model_dir;
  std::printf("model: %s; %dx%d, %d DDIM steps, guidance %.1f; device %s\n", described.c_str(),
              kSize, kSize, kSteps, kGuidance, device_name.c_str());
  if (env.empty()) {
    std::printf(
        "baseline: not run — no reference environment (set STIPPLE_REFERENCE_DIR, or put "
        "it at ../shared/reference beside the source tree); stipple's figures only\n");
  } else if (baseline.empty()) {
    std::printf(
        "baseline: FAILED to run (%s bench/diffusers_baseline.py with %s); stipple's "
        "figures only\n",
        Python().c_str(), env.c_str());
  } else {
    std::printf(
        "baseline: diffusers 0.27.2 on PyTorch %s eager (%s attention), %d threads; "
        "stipple: libtorch %s, %d threads; medians of %d (diffusers) and %d (stipple) "
        "runs after a warm-up\n",
        baseline.at("torch").as_string().c_str(), baseline.at("attention").as_string().c_str(),
        threads, TORCH_VERSION, threads, runs, 2 * runs_each_side);
    std::printf("parity (seeds %u.., batch 1 and 4): max |stipple - diffusers| = %d/255: %s\n",
                kSeed, parity, parity >= 0 && parity <= 2 ? "PASS (<= 2/255)" : "FAIL");
  }
  if (profile) {
    std::fflush(stdout);
    std::string command =
        Python() + " " STIPPLE_SOURCE_DIR "/bench/profile_breakdown.py stipple=" + Quote(our_trace);
    if (!their_trace.empty() && fs::exists(their_trace)) {
      command += " diffusers=" + Quote(their_trace);
    }
    if (std::system(command.c_str()) != 0) {
      std::printf("profile: bench/profile_breakdown.py failed\n");
    }
  }
  return 0;
}

}  // namespace
}  // namespace stipple

int main(int argc, char** argv) {
  std::string device = "cpu", model_dir;
  int threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  int runs = 4;
  bool profile = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--device" && i + 1 < argc) {
      device = argv[++i];
    } else if (arg == "--threads" && i + 1 < argc) {
      threads = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--profile") {
      profile = true;
    } else if (arg.rfind("--", 0) == 0) {
      std::fprintf(
          stderr,
          "usage: engine_bench [--device cpu|cuda[:N]] [--threads N] [--runs N] [--profile] "
          "[MODEL_DIR]\n");
      return 2;
    } else {
      model_dir = arg;
    }
  }
  return stipple::Run(model_dir, device, threads, runs, profile);
}
