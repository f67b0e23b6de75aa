// `stipple generate --local PROMPT -o FILE`: runs the engine in this process, without a server.
// The request is built from the options and goes through ParseGenerationRequest, so it is
// validated and defaulted exactly as a request to the API would be.
#include <boost/json/object.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "commands.h"
#include "common_options.h"
#include "core/generation_request.h"
#include "core/json.h"
#include "engine/torch_engine.h"

namespace stipple::app {
namespace {

const OptionSpec kGenerateOptions[] = {
    {.name = "local",
     .help = "run the engine in this process (required: generation through a server is not "
             "available yet)",
     .kind = OptionKind::kFlag},
    {.name = "output",
     .help = "where to write the PNG (image i of --n > 1: FILE-i.png)",
     .short_name = 'o',
     .value_name = "FILE"},
    {.name = "model-dir",
     .default_value = "models/shapes-32",
     .help = "the model directory (model.json, vocabulary, weights)",
     .value_name = "DIR"},
    {.name = "negative", .help = "negative prompt", .value_name = "TEXT"},
    {.name = "steps", .help = "denoising steps (default: the model's)", .value_name = "N"},
    {.name = "seed", .help = "0..4294967295 (default: random, and printed)", .value_name = "N"},
    {.name = "scheduler",
     .help = "ddim, ddpm, euler_a or dpmpp_2m (default: the model's)",
     .value_name = "NAME"},
    {.name = "guidance",
     .help = "guidance scale 0..30 (default: the model's)",
     .value_name = "SCALE"},
    {.name = "width", .help = "image width (default: the model's)", .value_name = "PX"},
    {.name = "height", .help = "image height (default: the model's)", .value_name = "PX"},
    {.name = "n", .default_value = "1", .help = "number of images, 1..8", .value_name = "N"},
    {.name = "threads",
     .default_value = "0",
     .help = "libtorch threads; 0: every core",
     .value_name = "N"},
    {.name = "device",
     .default_value = "cpu",
     .help = "cpu, cuda or cuda:N",
     .value_name = "DEVICE"},
};

constexpr const char* kUsage = "stipple generate --local PROMPT -o FILE [OPTIONS]";

// The API request body the options describe (only the options given).
Result<std::string> RequestBody(const Config& config, const std::string& prompt) {
  boost::json::object body;
  body["prompt"] = prompt;
  if (config.Has("negative")) body["negative_prompt"] = config.GetString("negative");
  if (config.Has("scheduler")) body["scheduler"] = config.GetString("scheduler");
  for (auto [option, field] :
       {std::pair{"steps", "steps"}, std::pair{"seed", "seed"}, std::pair{"width", "width"},
        std::pair{"height", "height"}, std::pair{"n", "num_images"}}) {
    if (!config.Has(option)) continue;
    ASSIGN_OR_RETURN(int64_t value, config.GetInt(option));
    body[field] = value;
  }
  if (config.Has("guidance")) {
    ASSIGN_OR_RETURN(double value, config.GetDouble("guidance"));
    body["guidance_scale"] = value;
  }
  return WriteJson(body);
}

std::string OutputPath(const std::string& output, int index, int count) {
  if (count == 1) return output;
  std::filesystem::path path(output);
  return (path.parent_path() /
          (path.stem().string() + "-" + std::to_string(index) + path.extension().string()))
      .string();
}

int Fail(int code, const Status& status) {
  std::fprintf(stderr, "stipple generate: %s\n", status.ToString().c_str());
  return code;
}

}  // namespace

int RunGenerate(std::span<const std::string> args) {
  ParsedOptions parsed = ParseCommandOptions(kUsage, kGenerateOptions, args);
  if (!parsed.config) return parsed.exit_code;
  const Config& config = *parsed.config;
  Result<bool> local = config.GetBool("local");
  if (!local.ok() || !*local) {
    return Fail(kExitUsage, InvalidArgumentError("--local is required (generation through a "
                                                 "server is not available yet)"));
  }
  if (config.positional().size() != 1) {
    return Fail(kExitUsage, InvalidArgumentError("expected exactly one PROMPT argument"));
  }
  if (!config.Has("output")) return Fail(kExitUsage, InvalidArgumentError("-o FILE is required"));
  Result<int64_t> threads = config.GetInt("threads");
  if (!threads.ok()) return Fail(kExitUsage, threads.status());
  Result<std::string> body = RequestBody(config, config.positional()[0]);
  if (!body.ok()) return Fail(kExitUsage, body.status());

  TorchEngineOptions options;
  options.device = config.GetString("device");
  options.threads = static_cast<int>(*threads);
  options.preview_every = 0;
  Result<std::unique_ptr<Engine>> engine =
      TorchEngine::Load(config.GetString("model-dir"), options);
  if (!engine.ok()) return Fail(kExitFailure, engine.status());
  ModelCatalog catalog{{(*engine)->limits()}};
  Result<GenerationRequest> request = ParseGenerationRequest(*body, catalog, RandomSeedSource());
  if (!request.ok()) return Fail(kExitUsage, request.status());

  std::vector<EngineJob> jobs = {{*request, nullptr}};
  auto results = (*engine)->Generate(jobs, nullptr);
  if (!results[0].ok()) return Fail(kExitFailure, results[0].status());
  const std::vector<GeneratedImage>& images = *results[0];
  for (size_t i = 0; i < images.size(); ++i) {
    const std::string path = OutputPath(config.GetString("output"), static_cast<int>(i),
                                        static_cast<int>(images.size()));
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(images[i].png.data(), static_cast<std::streamsize>(images[i].png.size()));
    out.close();
    if (!out) return Fail(kExitFailure, UnavailableError("cannot write " + path));
    std::printf("%s  %dx%d  seed %u\n", path.c_str(), images[i].width, images[i].height,
                images[i].seed);
  }
  return kExitOk;
}

}  // namespace stipple::app
