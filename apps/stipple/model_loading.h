// The models of `stipple serve` and `stipple worker`: every model in --model-dir (one model, or a
// folder of them: engine/model_files.h), or only those --model names. A model that fails to load
// is reported on stderr with the reason and left out; the others serve. `--model null` names the
// built-in null model (engine/null_engine.h) when --model-dir has no model called "null"; a
// null_model.json folder in --model-dir is one too, and is listed like any other model.
// The LoRA files of LoraDirFor(--model-dir) (engine/lora_file.h) go into the catalog (a file whose
// family cannot be told is reported and left out) and to every engine.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "core/generation_request.h"
#include "engine/engine.h"
#include "engine/torch_engine.h"

namespace stipple::app {

struct LoadedModels {
  std::vector<std::unique_ptr<Engine>> engines;  // empty when only described
  ModelCatalog catalog;                          // the models that loaded, in name order

  std::vector<Engine*> EnginePointers() const;
  std::string Names() const;  // "a, b"
};

// Loads every model (libtorch) for in-process workers. kNotFound when --model-dir holds no model
// or a name in `only` is not one of them; kFailedPrecondition when none of them loads.
Result<LoadedModels> LoadModels(const std::string& model_dir, const std::vector<std::string>& only,
                                const TorchEngineOptions& options, const char* command);

// Reads every model's limits from its configs only (a gateway, or a server whose workers are
// processes). Errors as LoadModels.
Result<LoadedModels> DescribeModels(const std::string& model_dir,
                                    const std::vector<std::string>& only, const char* command);

}  // namespace stipple::app
