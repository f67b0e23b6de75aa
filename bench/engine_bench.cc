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
// through the text encoder, 8 DDIM steps with classifier-free guidance 7.5 (both halves in one
// UNet call; --steps and --guidance change them), the VAE decode to uint8 pixels — at batch 1
// and 4. Figures: steps/s at batch 1 (steps ÷ the whole call's seconds), seconds per image at batch
// 1, images/s at batch 4, each with diffusers' figure beside it, and parity: the largest difference
// between the two sides' pixels of the same seeds (must be ≤ 2/255) and between their final
// latents. Medians of several runs after a warm-up; stipple's runs are split before and after the
// baseline's so that drift in the machine's load hits both. Each call's CPU seconds (the process's,
// all threads) are reported beside the wall clock: at --threads 1 they hardly depend on what else
// the machine runs, so they compare the two sides on a busy machine where wall times cannot.
//
//   engine_bench [--device cpu|cuda[:N]] [--threads N] [--runs N] [--steps N] [--guidance G]
//                [--profile] [MODEL_DIR]
//
// --runs: timed runs per batch size on each side (default 4; stipple does half before the
// baseline and half after).
//
// The baseline (bench/diffusers_baseline.py) runs with /usr/bin/python3 (STIPPLE_BENCH_PYTHON
// overrides) in the reference environment: STIPPLE_REFERENCE_DIR, default ../shared/reference
// beside the source tree (its env.sh). Without it, engine_bench says so and prints stipple's own
// figures. STIPPLE_BENCH_ATTENTION=bmm runs the baseline's attention scores as a plain bmm instead
// of diffusers' baddbmm (see bench/diffusers_baseline.py). Each side's last batch-1 and batch-4
// pixels and final latents are left in the temporary folder (stipple_engine_bench_{stipple,
// diffusers}.{u8,f32}, batch 1 first) for looking into a parity difference. --profile adds each
// part's seconds alone (text encoder, one UNet call, VAE decode) and the time by operator kind of
// one batch-1 call (bench/profile_breakdown.py over both sides' traces).
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
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
#include "engine/torch/testing/sd_shaped_fixture.h"

namespace stipple {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kSize = 128;
constexpr uint32_t kSeed = 1234;
// What one call samples: DDIM steps and guidance scale (--steps, --guidance).
struct CallShape {
  int steps = 8;
  double guidance = 7.5;
};
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

// CPU seconds used by this process so far (all its threads).
double CpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// One call's wall-clock and CPU seconds. At one thread the CPU seconds barely depend on the
// machine's load (time spent waiting for a core is not counted), so they compare two sides
// measured on a busy machine better than the wall clock does.
struct CallTime {
  double wall = 0, cpu = 0;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// `s` as one shell word: single-quoted, each single quote inside written as '\'' (the command is
// quoted twice — its words here, then the whole for `bash -c` — so this must nest).
std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

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

std::vector<EngineJob> Jobs(const CallShape& call, int batch) {
  std::vector<EngineJob> jobs;
  for (int i = 0; i < batch; ++i) {
    GenerationRequest r;
    r.prompt = kPrompts[i % std::size(kPrompts)];
    r.width = r.height = kSize;
    r.steps = call.steps;
    r.guidance_scale = call.guidance;
    r.scheduler = "ddim";
    r.seed = kSeed + static_cast<uint32_t>(i);
    r.num_images = 1;
    jobs.push_back({r, nullptr});
  }
  return jobs;
}

// One text-to-image call of `batch` images; its seconds, its pixels and final latents in *out.
CallTime TimeSample(torch_engine::SdPipeline& pipeline, const CallShape& call, int batch,
                    torch_engine::SdPipeline::Samples* out) {
  std::vector<EngineJob> jobs = Jobs(call, batch);
  std::vector<Status> admitted(jobs.size());
  std::vector<Result<std::vector<GeneratedImage>>> results;
  const auto start = Clock::now();
  const double cpu_start = CpuSeconds();
  torch_engine::SdPipeline::Samples samples = pipeline.Sample(jobs, admitted, nullptr, &results);
  const CallTime s{Seconds(Clock::now() - start), CpuSeconds() - cpu_start};
  for (const auto& r : results) {
    if (!r.ok()) {
      std::fprintf(stderr, "engine_bench: %s\n", r.status().ToString().c_str());
      std::exit(1);
    }
  }
  if (out != nullptr) *out = std::move(samples);
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

// Runs the diffusers baseline; its JSON report (empty when it could not run). It writes its last
// batch-1 and batch-4 calls' pixels (uint8) to `prefix`.u8 and final latents (float32) to
// `prefix`.f32.
boost::json::object RunBaseline(const std::string& env, const std::string& model_dir,
                                const std::string& device, int threads, int runs,
                                const CallShape& call, const std::string& prefix,
                                const std::string& trace_file) {
  std::string command = ". " + Quote(env) + " && exec " + Python() +
                        " " STIPPLE_SOURCE_DIR "/bench/diffusers_baseline.py --model-dir " +
                        Quote(model_dir) + " --device " + Quote(device) + " --threads " +
                        std::to_string(threads) + " --steps " + std::to_string(call.steps) +
                        " --size " + std::to_string(kSize) + " --seed " + std::to_string(kSeed) +
                        " --reps " + std::to_string(runs) + " --guidance " +
                        std::to_string(call.guidance) + " --pixels-out " + Quote(prefix + ".u8") +
                        " --latents-out " + Quote(prefix + ".f32");
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

// The median of the baseline's `field` ("seconds" or "cpu_seconds") for `batch`; 0 when absent.
double BaselineMedian(const boost::json::object& baseline, const char* field, const char* batch) {
  if (!baseline.contains(field)) return 0;
  std::vector<double> runs;
  for (const auto& s : baseline.at(field).as_object().at(batch).as_array()) {
    runs.push_back(s.to_number<double>());
  }
  return Median(runs);
}

// The largest |ours - theirs| over the batch-1 and batch-4 results (`ours`, concatenated) against
// the baseline's `file` of the same dtype; -1 when the file is missing or short.
double MaxDifference(const std::string& file, const torch::Tensor& ours) {
  torch::Tensor theirs = torch::empty_like(ours);
  std::ifstream in(file, std::ios::binary);
  in.read(reinterpret_cast<char*>(theirs.data_ptr()),
          static_cast<std::streamsize>(theirs.numel() * theirs.element_size()));
  if (!in) return -1;
  return (ours.to(torch::kDouble) - theirs.to(torch::kDouble)).abs().max().item<double>();
}

// Writes a contiguous CPU tensor's bytes to `file`.
void WriteRaw(const std::string& file, const torch::Tensor& t) {
  std::ofstream(file, std::ios::binary)
      .write(reinterpret_cast<const char*>(t.data_ptr()),
             static_cast<std::streamsize>(t.numel() * t.element_size()));
}

// Both calls' `part` (pixels or latents) flattened into one contiguous CPU tensor.
torch::Tensor Joined(const torch::Tensor& b1, const torch::Tensor& b4) {
  return torch::cat({b1.flatten(), b4.flatten()}).to(torch::kCPU).contiguous();
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
  // As the pipeline runs a step: the text states' keys and values projected once per call.
  torch_engine::UNetAddedConditions added;
  const torch_engine::CrossKeysValues projected = unet->ProjectText(context);
  added.text_keys_values = &projected;
  add("unet_step_text_projected", median_of([&] { unet->forward(x, t, context, added); }));
  add("vae_decode", median_of([&] { vae->Decode(z); }));
}

int Run(std::string model_dir, const std::string& device_name, int threads, int runs, bool profile,
        const CallShape& call) {
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
  TimeSample(pipeline, call, 1, nullptr);  // warm-up
  std::vector<double> ours1, ours4, cpu1, cpu4;
  torch_engine::SdPipeline::Samples last1, last4;
  auto time_ours = [&] {
    for (int i = 0; i < runs_each_side; ++i) {
      const CallTime t1 = TimeSample(pipeline, call, 1, &last1);
      const CallTime t4 = TimeSample(pipeline, call, 4, &last4);
      ours1.push_back(t1.wall);
      ours4.push_back(t4.wall);
      cpu1.push_back(t1.cpu);
      cpu4.push_back(t4.cpu);
    }
  };
  time_ours();

  const std::string env = ReferenceEnv();
  const std::string prefix = fs::temp_directory_path() / "stipple_engine_bench_diffusers";
  const std::string their_trace =
      profile ? (fs::temp_directory_path() / "stipple_engine_bench_diffusers.json").string() : "";
  boost::json::object baseline;
  if (!env.empty()) {
    std::fprintf(stderr, "engine_bench: diffusers baseline...\n");
    baseline = RunBaseline(env, model_dir, device_name, threads, runs, call, prefix, their_trace);
  }
  time_ours();

  bench::BenchReport report("engine_bench");
  const double s1 = Median(ours1), s4 = Median(ours4);
  const double b1 = BaselineMedian(baseline, "seconds", "1"),
               b4 = BaselineMedian(baseline, "seconds", "4");
  auto add = [&](const std::string& metric, double value, const char* unit, double base) {
    if (base > 0) {
      report.Add(metric, value, unit, base);
    } else {
      report.Add(metric, value, unit);
    }
  };
  add("steps_per_s_batch1", call.steps / s1, "steps/s", b1 > 0 ? call.steps / b1 : 0);
  add("seconds_per_image_batch1", s1, "s", b1);
  add("images_per_s_batch4", 4 / s4, "images/s", b4 > 0 ? 4 / b4 : 0);
  // CPU seconds per call (lower is better; the ratio printed is stipple ÷ diffusers).
  add("cpu_seconds_batch1", Median(cpu1), "s", BaselineMedian(baseline, "cpu_seconds", "1"));
  add("cpu_seconds_batch4", Median(cpu4), "s", BaselineMedian(baseline, "cpu_seconds", "4"));
  const int parity =
      baseline.empty()
          ? -1
          : static_cast<int>(MaxDifference(prefix + ".u8", Joined(last1.pixels, last4.pixels)));
  if (parity >= 0) report.Add("parity_max_pixel_diff", parity, "levels of 255", 2);
  // The final latents' difference, in their own units (the VAE's input before ÷ scaling factor).
  const double latent_parity =
      baseline.empty() ? -1 : MaxDifference(prefix + ".f32", Joined(last1.latents, last4.latents));
  if (latent_parity >= 0) report.Add("parity_max_latent_diff", latent_parity, "");
  // stipple's side of the same, beside the baseline's files (for looking into a difference).
  const std::string ours = fs::temp_directory_path() / "stipple_engine_bench_stipple";
  WriteRaw(ours + ".u8", Joined(last1.pixels, last4.pixels));
  WriteRaw(ours + ".f32", Joined(last1.latents, last4.latents));

  std::string our_trace;
  if (profile) {
    ProfileParts(pipeline, device, runs, report, baseline);
    our_trace = (fs::temp_directory_path() / "stipple_engine_bench_stipple.json").string();
    torch::autograd::profiler::RecordProfile guard(our_trace);
    TimeSample(pipeline, call, 1, nullptr);
  }
  report.Print();

  const std::string described =
      bench_model ? "SD 1.5 structure, random weights (" + std::string(kShapeStamp) + ")"
                  : model_dir;
  std::printf("model: %s; %dx%d, %d DDIM steps, guidance %.1f; device %s\n", described.c_str(),
              kSize, kSize, call.steps, call.guidance, device_name.c_str());
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
    std::printf(
        "parity (seeds %u.., batch 1 and 4): max |stipple - diffusers| = %d/255 (%s), final "
        "latents %.3g\n",
        kSeed, parity, parity >= 0 && parity <= 2 ? "PASS, <= 2/255" : "FAIL", latent_parity);
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
  stipple::CallShape call;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--device" && i + 1 < argc) {
      device = argv[++i];
    } else if (arg == "--threads" && i + 1 < argc) {
      threads = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--steps" && i + 1 < argc) {
      call.steps = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--guidance" && i + 1 < argc) {
      call.guidance = std::atof(argv[++i]);
    } else if (arg == "--profile") {
      profile = true;
    } else if (arg.rfind("--", 0) == 0) {
      std::fprintf(
          stderr,
          "usage: engine_bench [--device cpu|cuda[:N]] [--threads N] [--runs N] [--steps N] "
          "[--guidance G] [--profile] [MODEL_DIR]\n");
      return 2;
    } else {
      model_dir = arg;
    }
  }
  return stipple::Run(model_dir, device, threads, runs, profile, call);
}
