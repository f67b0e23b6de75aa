#include "engine/torch/lora_apply.h"

#include <set>
#include <utility>

#include "engine/safetensors.h"

namespace stipple::torch_engine {
namespace {

bool SameSet(const std::vector<LoraRequest>& a, const std::vector<LoraRequest>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].scale != b[i].scale) return false;
  }
  return true;
}

std::string Field(size_t index) { return "loras[" + std::to_string(index) + "].name"; }

Status WithField(size_t index, const Status& status) {
  return Status(status.code(), Field(index) + ": " + status.message());
}

torch::Tensor ToTensor(const FloatTensor& t, torch::Device device) {
  return torch::from_blob(const_cast<float*>(t.values.data()), c10::IntArrayRef(t.shape),
                          torch::kFloat)
      .to(device, /*non_blocking=*/false, /*copy=*/true);
}

}  // namespace

LoraMerger::LoraMerger(std::vector<std::shared_ptr<torch::nn::Module>> parts, SdFamily family,
                       std::map<std::string, std::string> files, int64_t cache_bytes)
    : parts_(std::move(parts)),
      family_(family),
      files_(std::move(files)),
      cache_limit_(cache_bytes) {
  for (size_t t = 0; t < parts_.size() && t < static_cast<size_t>(kLoraTargets); ++t) {
    if (!parts_[t]) continue;
    const std::string target(LoraTargetName(static_cast<LoraTarget>(t)));
    for (const auto& item : parts_[t]->named_parameters(true)) {
      const std::string& name = item.key();
      const torch::Tensor& w = item.value();
      if (name.size() < 8 || name.compare(name.size() - 7, 7, ".weight") != 0) continue;
      if (w.dim() != 2 && w.dim() != 4) continue;
      const std::string module = name.substr(0, name.size() - 7);
      modules_.parts[t][module] = w.sizes().vec();
      weights_[target + ":" + module] = w;
    }
  }
}

Result<std::shared_ptr<const LoraMerger::Loaded>> LoraMerger::Load(size_t index,
                                                                   const std::string& name) const {
  auto file = files_.find(name);
  if (file == files_.end()) {
    return InvalidArgumentError(Field(index) + ": no LoRA named '" + name + "'");
  }
  const std::string& path = file->second;
  Result<SafetensorsFile> read = ReadSafetensorsFile(path);
  if (!read.ok()) return WithField(index, read.status());
  Result<SdFamily> family = DetectLoraFamily(*read, path);
  if (!family.ok()) return WithField(index, family.status());
  if (*family != family_) {
    return InvalidArgumentError(Field(index) + ": LoRA " + path + " is for " +
                                std::string(SdFamilyName(*family)) + " models, this model is " +
                                std::string(SdFamilyName(family_)));
  }
  Result<std::vector<LoraLayer>> layers = MapLoraLayers(std::move(read).value(), path, modules_);
  if (!layers.ok()) return WithField(index, layers.status());
  auto loaded = std::make_shared<Loaded>();
  for (const LoraLayer& layer : *layers) {
    Factor f;
    f.weight = weights_.at(std::string(LoraTargetName(layer.target)) + ":" + layer.module);
    const torch::Device device = f.weight.device();
    f.up = ToTensor(layer.up, device).reshape({layer.up.shape[0], layer.rank()});
    f.down = ToTensor(layer.down, device).reshape({layer.rank(), -1});
    f.multiplier = static_cast<double>(layer.alpha) / static_cast<double>(layer.rank());
    loaded->bytes += (f.up.numel() + f.down.numel()) * static_cast<int64_t>(sizeof(float));
    loaded->factors.push_back(std::move(f));
  }
  return std::shared_ptr<const Loaded>(std::move(loaded));
}

Result<std::shared_ptr<const LoraMerger::Loaded>> LoraMerger::Get(size_t index,
                                                                  const std::string& name) {
  if (auto it = cache_.find(name); it != cache_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.position);
    return it->second.loaded;
  }
  ASSIGN_OR_RETURN(std::shared_ptr<const Loaded> loaded, Load(index, name));
  if (loaded->bytes > cache_limit_) return loaded;
  while (cached_bytes_ + loaded->bytes > cache_limit_ && !lru_.empty()) {
    auto victim = cache_.find(lru_.back());
    cached_bytes_ -= victim->second.loaded->bytes;
    cache_.erase(victim);
    lru_.pop_back();
  }
  lru_.push_front(name);
  cache_[name] = {loaded, lru_.begin()};
  cached_bytes_ += loaded->bytes;
  return loaded;
}

void LoraMerger::Restore() {
  torch::NoGradGuard no_grad;
  for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) it->first.set_data(it->second);
  saved_.clear();
  applied_.clear();
}

Result<bool> LoraMerger::Use(const std::vector<LoraRequest>& loras) {
  if (SameSet(loras, applied_)) return false;
  // Everything is loaded (and checked) before any weight changes.
  std::vector<std::shared_ptr<const Loaded>> sets;
  for (size_t i = 0; i < loras.size(); ++i) {
    ASSIGN_OR_RETURN(std::shared_ptr<const Loaded> loaded, Get(i, loras[i].name));
    sets.push_back(std::move(loaded));
  }
  Restore();
  torch::NoGradGuard no_grad;
  std::set<const torch::TensorImpl*> swapped;
  try {
    for (size_t i = 0; i < loras.size(); ++i) {
      for (const Factor& f : sets[i]->factors) {
        torch::Tensor weight = f.weight;
        const torch::Tensor delta =
            torch::mm(f.up, f.down).mul_(loras[i].scale * f.multiplier).reshape(weight.sizes());
        torch::Tensor merged =
            weight.detach().to(torch::kFloat).add(delta).to(weight.scalar_type());
        if (swapped.insert(weight.unsafeGetTensorImpl()).second) {
          saved_.emplace_back(weight, weight.detach());
        }
        weight.set_data(merged);
      }
    }
  } catch (...) {
    Restore();  // e.g. out of memory half-way: back to the loaded weights
    throw;
  }
  applied_ = loras;
  return true;
}

}  // namespace stipple::torch_engine
