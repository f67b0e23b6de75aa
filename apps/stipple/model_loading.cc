#include "model_loading.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <utility>

#include "engine/lora_file.h"
#include "engine/model_files.h"
#include "engine/null_engine.h"

namespace stipple::app {
namespace {

// The models of `model_dir`, restricted to `only` when it is not empty. "null" in `only` is the
// built-in null model unless the folder has a model of that name; with only "null" asked for,
// the folder need not exist.
Result<std::vector<ModelPath>> Select(const std::string& model_dir,
                                      const std::vector<std::string>& only) {
  Result<std::vector<ModelPath>> found = FindModels(model_dir);
  const bool only_null = !only.empty() && std::all_of(only.begin(), only.end(), [](auto& name) {
    return name == kNullModelName;
  });
  if (!found.ok() && !only_null) return found.status();
  std::vector<ModelPath> models = found.ok() ? std::move(found).value() : std::vector<ModelPath>{};
  if (only.empty()) return models;
  std::vector<ModelPath> chosen;
  for (const std::string& name : only) {
    auto it = std::find_if(models.begin(), models.end(),
                           [&](const ModelPath& m) { return m.name == name; });
    if (it == models.end() && name == kNullModelName) {
      chosen.push_back(BuiltinNullModel());
      continue;
    }
    if (it == models.end()) {
      std::string names;
      for (const ModelPath& m : models) names += (names.empty() ? "" : ", ") + m.name;
      return NotFoundError("--model " + name + ": no such model in " + model_dir +
                           " (it has: " + names + ")");
    }
    chosen.push_back(*it);
  }
  return chosen;
}

Status NoneLoaded(const std::string& model_dir) {
  return FailedPreconditionError("no model in " + model_dir + " could be loaded (see above)");
}

// The process's resident memory in MB (Linux), 0 if unknown.
double ResidentMb() {
  std::FILE* f = std::fopen("/proc/self/statm", "re");
  if (f == nullptr) return 0;
  long pages = 0, resident = 0;
  const int n = std::fscanf(f, "%ld %ld", &pages, &resident);
  std::fclose(f);
  return n == 2 ? static_cast<double>(resident) * 4096.0 / (1 << 20) : 0;
}

// The null model's engine, or libtorch's for every other format.
Result<std::unique_ptr<Engine>> LoadEngine(const ModelPath& model,
                                           const TorchEngineOptions& options) {
  if (model.format != ModelFormat::kNull) return TorchEngine::Load(model.path, options);
  ASSIGN_OR_RETURN(NullModelOptions null_options, NullModelOptionsOf(model));
  return std::unique_ptr<Engine>(std::make_unique<NullEngine>(std::move(null_options)));
}

// The catalog's LoRA files: every .safetensors of LoraDirFor(model_dir) whose header reads and
// whose family is known; the others are reported on stderr and left out.
std::vector<LoraInfo> DescribeLoras(const std::map<std::string, std::string>& files,
                                    const char* command) {
  std::vector<Status> errors;
  std::vector<LoraInfo> loras = DescribeLoraFiles(files, &errors);
  for (const Status& error : errors) {
    std::fprintf(stderr, "stipple %s: LoRA left out: %s\n", command, error.ToString().c_str());
  }
  return loras;
}

}  // namespace

std::vector<Engine*> LoadedModels::EnginePointers() const {
  std::vector<Engine*> out;
  for (const std::unique_ptr<Engine>& e : engines) out.push_back(e.get());
  return out;
}

std::string LoadedModels::Names() const {
  std::string names;
  for (const ModelLimits& m : catalog.models) names += (names.empty() ? "" : ", ") + m.name;
  return names;
}

Result<LoadedModels> LoadModels(const std::string& model_dir, const std::vector<std::string>& only,
                                const TorchEngineOptions& options, const char* command) {
  ASSIGN_OR_RETURN(std::vector<ModelPath> models, Select(model_dir, only));
  LoadedModels out;
  TorchEngineOptions with_loras = options;
  with_loras.lora_files = FindLoraFiles(LoraDirFor(model_dir));
  out.catalog.loras = DescribeLoras(with_loras.lora_files, command);
  for (const ModelPath& model : models) {
    const auto start = std::chrono::steady_clock::now();
    Result<std::unique_ptr<Engine>> engine = LoadEngine(model, with_loras);
    if (!engine.ok()) {
      std::fprintf(stderr, "stipple %s: model %s not loaded: %s\n", command, model.name.c_str(),
                   engine.status().ToString().c_str());
      continue;
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const ModelLimits limits = (*engine)->limits();
    std::fprintf(stderr,
                 "stipple %s: model %s loaded in %.1f s (%s, %dx%d; process resident %.0f MB)\n",
                 command, limits.name.c_str(), seconds, limits.family.c_str(), limits.width,
                 limits.height, ResidentMb());
    out.catalog.models.push_back(limits);
    out.engines.push_back(std::move(engine).value());
  }
  if (out.engines.empty()) return NoneLoaded(model_dir);
  return out;
}

Result<LoadedModels> DescribeModels(const std::string& model_dir,
                                    const std::vector<std::string>& only, const char* command) {
  ASSIGN_OR_RETURN(std::vector<ModelPath> models, Select(model_dir, only));
  LoadedModels out;
  out.catalog.loras = DescribeLoras(FindLoraFiles(LoraDirFor(model_dir)), command);
  for (const ModelPath& model : models) {
    Result<ModelLimits> limits = DescribeModel(model);
    if (!limits.ok()) {
      std::fprintf(stderr, "stipple %s: model %s left out: %s\n", command, model.name.c_str(),
                   limits.status().ToString().c_str());
      continue;
    }
    out.catalog.models.push_back(std::move(limits).value());
  }
  if (out.catalog.models.empty()) return NoneLoaded(model_dir);
  return out;
}

}  // namespace stipple::app
