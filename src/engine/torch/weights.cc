#include "engine/torch/weights.h"

#include <set>
#include <string>
#include <vector>

namespace stipple::torch_engine {
namespace {

std::string ShapeText(c10::IntArrayRef shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// "what: a, b, c (and 4 more)".
std::string ListNames(const std::string& what, const std::vector<std::string>& names) {
  std::string out = what + ": ";
  for (size_t i = 0; i < names.size() && i < 3; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > 3) out += " (and " + std::to_string(names.size() - 3) + " more)";
  return out;
}

}  // namespace

Status LoadWeights(torch::nn::Module& module, const SafetensorsFile& file,
                   std::string_view file_name) {
  const std::string prefix = "weights " + std::string(file_name) + ": ";
  torch::OrderedDict<std::string, torch::Tensor> params = module.named_parameters(true);
  std::vector<std::string> missing, wrong_shape, unexpected;
  std::set<std::string> known;
  for (const auto& item : params) {
    known.insert(item.key());
    auto it = file.tensors.find(item.key());
    if (it == file.tensors.end()) {
      missing.push_back("'" + item.key() + "'");
    } else if (c10::IntArrayRef(it->second.shape) != item.value().sizes()) {
      wrong_shape.push_back("'" + item.key() + "' is " + ShapeText(it->second.shape) +
                            ", the model needs " + ShapeText(item.value().sizes()));
    }
  }
  for (const auto& [name, tensor] : file.tensors) {
    if (known.count(name) == 0) unexpected.push_back("'" + name + "'");
  }
  if (!missing.empty()) return InvalidArgumentError(prefix + ListNames("missing tensors", missing));
  if (!wrong_shape.empty()) {
    return InvalidArgumentError(prefix + ListNames("wrong shapes", wrong_shape));
  }
  if (!unexpected.empty()) {
    return InvalidArgumentError(prefix + ListNames("unexpected tensors", unexpected));
  }
  torch::NoGradGuard no_grad;
  for (auto& item : params) {
    const FloatTensor& source = file.tensors.at(item.key());
    torch::Tensor cpu = torch::from_blob(const_cast<float*>(source.values.data()),
                                         c10::IntArrayRef(source.shape), torch::kFloat);
    item.value().copy_(cpu);
  }
  return Status::Ok();
}

SafetensorsFile ExportWeights(const torch::nn::Module& module) {
  SafetensorsFile file;
  for (const auto& item : module.named_parameters(true)) {
    torch::Tensor t = item.value().detach().to(torch::kCPU, torch::kFloat).contiguous();
    FloatTensor out;
    out.shape.assign(t.sizes().begin(), t.sizes().end());
    out.values.assign(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
    file.tensors[item.key()] = std::move(out);
  }
  return file;
}

}  // namespace stipple::torch_engine
