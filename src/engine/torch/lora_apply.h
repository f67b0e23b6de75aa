// Applying LoRA sets to a loaded model without reloading it: the adapted layers' weights are
// replaced by merged ones, W' = W + Σ scale · (alpha / rank) · up · down (in the request's order,
// computed in fp32 and stored in the weight's dtype), and put back exactly afterwards.
//
// Restore keeps the original tensors (the merged weight is a new tensor swapped in with
// set_data; the original is swapped back), so the weights after a restore are the very bytes that
// were loaded — subtracting the update again would leave rounding in them, and the same request
// would then give other images depending on which LoRAs ran before it.
// The set in use stays merged until a batch asks for another one, so consecutive batches with the
// same set pay nothing.
//
// Loaded files (their factors on the model's device, fp32) are kept for reuse in an LRU cache
// bounded in bytes; a file bigger than the bound is used and not kept.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "core/generation_request.h"
#include "engine/lora_file.h"
#include "engine/sd_family.h"

namespace stipple::torch_engine {

class LoraMerger {
 public:
  // `parts` are the model's UNet, text encoder and second text encoder (null when absent),
  // indexed by LoraTarget; `files` name → .safetensors path.
  LoraMerger(std::vector<std::shared_ptr<torch::nn::Module>> parts, SdFamily family,
             std::map<std::string, std::string> files, int64_t cache_bytes);

  // Makes the model's weights those of `loras` (empty: the loaded weights). Returns whether they
  // changed. kInvalidArgument naming "loras[i].name" for a name without a file, a file of another
  // family, or a file that does not fit the model (LoraFile's errors); kNotFound / kDataLoss from
  // reading the file. On error the model is left with its loaded weights. May throw c10::Error.
  Result<bool> Use(const std::vector<LoraRequest>& loras);

  // The bytes the cache holds now.
  int64_t cached_bytes() const { return cached_bytes_; }

 private:
  struct Factor {
    torch::Tensor weight;   // the module's parameter
    torch::Tensor up;       // (out, rank), fp32, on the weight's device
    torch::Tensor down;     // (rank, in · kh · kw)
    double multiplier = 1;  // alpha / rank
  };
  struct Loaded {
    std::vector<Factor> factors;
    int64_t bytes = 0;
  };

  Result<std::shared_ptr<const Loaded>> Get(size_t index, const std::string& name);
  Result<std::shared_ptr<const Loaded>> Load(size_t index, const std::string& name) const;
  void Restore();

  std::vector<std::shared_ptr<torch::nn::Module>> parts_;
  SdFamily family_;
  std::map<std::string, std::string> files_;
  int64_t cache_limit_;
  LoraModules modules_;
  std::map<std::string, torch::Tensor> weights_;  // "<target>:<module>" → its weight parameter

  std::list<std::string> lru_;  // most recently used first
  struct Entry {
    std::shared_ptr<const Loaded> loaded;
    std::list<std::string>::iterator position;
  };
  std::map<std::string, Entry> cache_;
  int64_t cached_bytes_ = 0;

  std::vector<LoraRequest> applied_;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> saved_;  // (parameter, original)
};

}  // namespace stipple::torch_engine
