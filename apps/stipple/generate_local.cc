// `stipple generate --local PROMPT -o FILE`: runs the engine in this process, without a server.
// The request body goes through ParseGenerationRequest, so it is validated and defaulted exactly
// as a request to the API would be.
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "common_options.h"
#include "core/generation_request.h"
#include "engine/lora_file.h"
#include "engine/torch_engine.h"
#include "generate.h"
#include "generate_images.h"
#include "generate_lora.h"
#include "model_dir.h"

namespace stipple::app {
namespace {

int Fail(int code, const Status& status) {
  std::fprintf(stderr, "stipple generate: %s\n", status.ToString().c_str());
  return code;
}

}  // namespace

int GenerateLocal(const Config& config, const std::string& body) {
  if (!config.Has("output")) return Fail(kExitUsage, InvalidArgumentError("-o FILE is required"));
  Result<int64_t> threads = config.GetInt("threads");
  if (!threads.ok()) return Fail(kExitUsage, threads.status());

  TorchEngineOptions options;
  options.device = config.GetString("device");
  options.dtype = config.GetString("dtype");
  options.threads = static_cast<int>(*threads);
  options.preview_every = 0;
  Result<std::string> model_dir = ResolveModelDir(config);
  if (!model_dir.ok()) return Fail(kExitFailure, model_dir.status());
  Result<std::vector<LoraOption>> loras = ParseLoraOptions(config.GetList("lora"));
  if (!loras.ok()) return Fail(kExitUsage, loras.status());
  options.lora_files = LocalLoraFiles(LoraDirFor(*model_dir), *loras);
  Result<std::unique_ptr<Engine>> engine = TorchEngine::Load(*model_dir, options);
  if (!engine.ok()) return Fail(kExitFailure, engine.status());
  std::vector<Status> lora_errors;
  ModelCatalog catalog{{(*engine)->limits()}, DescribeLoraFiles(options.lora_files, &lora_errors)};
  for (const LoraOption& lora : *loras) {
    // A file asked for that could not be described: its own error rather than "no such LoRA".
    auto file = options.lora_files.find(lora.name);
    for (const Status& error : lora_errors) {
      if (file != options.lora_files.end() &&
          error.message().find(file->second) != std::string::npos) {
        return Fail(kExitFailure, error);
      }
    }
  }
  Result<GenerationRequest> request = ParseGenerationRequest(body, catalog, RandomSeedSource());
  if (!request.ok()) return Fail(kExitUsage, request.status());

  std::vector<EngineJob> jobs = {{*request, nullptr}};
  if (Status s = ResolveLocalImages(config, (*engine)->limits(), jobs[0]); !s.ok()) {
    return Fail(kExitUsage, s);
  }
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
