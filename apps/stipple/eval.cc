// `stipple eval`: the shipped model's prompt-adherence evaluation (tools/train/evaluator.h):
// per-attribute accuracy for the fixed prompt set, and the same figures for unconditional
// samples, at the settings given (default: 20 DDIM steps, the model's guidance scale).
#include <cstdio>
#include <fstream>

#include "commands.h"
#include "common_options.h"
#include "engine/torch_engine.h"
#include "evaluator.h"
#include "model_dir.h"

namespace stipple::app {
namespace {

const OptionSpec kEvalOptions[] = {
    {.name = "model-dir",
     .help = "the model directory to evaluate (default: the bundled shapes-32 model)",
     .value_name = "DIR"},
    {.name = "steps", .default_value = "20", .help = "denoising steps", .value_name = "N"},
    {.name = "scheduler",
     .default_value = "ddim",
     .help = "ddim, ddpm, euler_a or dpmpp_2m",
     .value_name = "NAME"},
    {.name = "guidance", .help = "guidance scale (default: the model's)", .value_name = "SCALE"},
    {.name = "samples",
     .default_value = "2",
     .help = "images per prompt (80 prompts)",
     .value_name = "N"},
    {.name = "seed", .default_value = "1000", .help = "the first image's seed", .value_name = "N"},
    {.name = "batch", .default_value = "8", .help = "images per engine batch", .value_name = "N"},
    {.name = "no-baseline", .help = "skip the unconditional baseline", .kind = OptionKind::kFlag},
    {.name = "grid",
     .help = "also write the prompted samples as one PNG grid (a row per 10 images)",
     .value_name = "FILE"},
    {.name = "threads",
     .default_value = "0",
     .help = "libtorch threads; 0: every core",
     .value_name = "N"},
    {.name = "device", .default_value = "cpu", .help = "cpu, cuda or cuda:N", .value_name = "DEV"},
};

constexpr const char* kUsage = "stipple eval [OPTIONS]";

int Fail(int code, const Status& status) {
  std::fprintf(stderr, "stipple eval: %s\n", status.ToString().c_str());
  return code;
}

void PrintRow(const char* name, const shapes::AttributeAccuracy& a) {
  std::printf("%-26s %6.1f%% %6.1f%% %6.1f%% %8.1f%% %6.1f%%   %d/%d\n", name, 100 * a.colour,
              100 * a.shape, 100 * a.size, 100 * a.position, 100 * a.all, a.found, a.count);
}

}  // namespace

int RunEval(std::span<const std::string> args) {
  ParsedOptions parsed = ParseCommandOptions(kUsage, kEvalOptions, args);
  if (!parsed.config) return parsed.exit_code;
  const Config& config = *parsed.config;
  if (!config.positional().empty()) {
    return Fail(kExitUsage, InvalidArgumentError("unexpected argument " + config.positional()[0]));
  }
  shapes::EvalOptions options;
  options.scheduler = config.GetString("scheduler");
  int64_t steps, samples, seed, batch, threads;
  struct IntOption {
    const char* name;
    int64_t min, max;
    int64_t* out;
  };
  for (IntOption o : {IntOption{"steps", 1, 150, &steps}, IntOption{"samples", 1, 100, &samples},
                      IntOption{"seed", 0, 4294967295LL, &seed}, IntOption{"batch", 1, 64, &batch},
                      IntOption{"threads", 0, 1024, &threads}}) {
    const char* name = o.name;
    const int64_t min = o.min, max = o.max;
    int64_t* out = o.out;
    Result<int64_t> v = config.GetInt(name);
    if (!v.ok()) return Fail(kExitUsage, v.status());
    if (*v < min || *v > max) {
      return Fail(kExitUsage,
                  InvalidArgumentError("--" + std::string(name) + " must be in " +
                                       std::to_string(min) + ".." + std::to_string(max)));
    }
    *out = *v;
  }
  if (config.Has("guidance")) {
    Result<double> g = config.GetDouble("guidance");
    if (!g.ok()) return Fail(kExitUsage, g.status());
    options.guidance_scale = *g;
  }
  Result<bool> no_baseline = config.GetBool("no-baseline");
  options.steps = static_cast<int>(steps);
  options.samples_per_prompt = static_cast<int>(samples);
  options.seed = static_cast<uint32_t>(seed);
  options.batch = static_cast<int>(batch);
  options.baseline = !(no_baseline.ok() && *no_baseline);
  options.on_progress = [](int done, int total) {
    std::fprintf(stderr, "\r%d/%d images", done, total);
    if (done == total) std::fprintf(stderr, "\n");
  };

  TorchEngineOptions engine_options;
  engine_options.device = config.GetString("device");
  engine_options.threads = static_cast<int>(threads);
  engine_options.preview_every = 0;
  Result<std::string> model_dir = ResolveModelDir(config);
  if (!model_dir.ok()) return Fail(kExitFailure, model_dir.status());
  Result<std::unique_ptr<Engine>> engine = TorchEngine::Load(*model_dir, engine_options);
  if (!engine.ok()) return Fail(kExitFailure, engine.status());
  Result<shapes::EvalReport> report = shapes::Evaluate(**engine, options);
  if (!report.ok()) return Fail(kExitFailure, report.status());

  std::printf("%s, %d prompts x %lld samples, %s %d steps, guidance %.1f, %.1f s\n",
              (*engine)->limits().name.c_str(), report->prompted.count / options.samples_per_prompt,
              static_cast<long long>(samples), options.scheduler.c_str(), options.steps,
              options.guidance_scale.value_or((*engine)->limits().default_guidance_scale),
              report->seconds);
  std::printf("%-26s %7s %7s %7s %9s %7s   %s\n", "", "colour", "shape", "size", "position", "all",
              "found");
  PrintRow("prompted", report->prompted);
  PrintRow("  phrased like captions", report->familiar);
  PrintRow("  novel phrasings", report->novel);
  if (options.baseline) PrintRow("unconditional (baseline)", report->unconditional);
  std::printf("targets                     95.0%%   85.0%%   85.0%%     90.0%%\n");

  if (config.Has("grid")) {
    std::vector<std::string> pngs;
    for (const shapes::EvalSample& s : report->samples) pngs.push_back(s.png);
    Result<std::string> grid = shapes::SampleGridPng(pngs, 10, 2);
    if (!grid.ok()) return Fail(kExitFailure, grid.status());
    std::ofstream out(config.GetString("grid"), std::ios::binary | std::ios::trunc);
    out << *grid;
    if (!out)
      return Fail(kExitFailure, UnavailableError("cannot write " + config.GetString("grid")));
    std::printf("grid: %s\n", config.GetString("grid").c_str());
  }
  return kExitOk;
}

}  // namespace stipple::app
