#include "generate_lora.h"

#include <boost/json/object.hpp>

#include <cmath>
#include <filesystem>

#include "engine/lora_file.h"

namespace stipple::app {

Result<std::vector<LoraOption>> ParseLoraOptions(const std::vector<std::string>& values) {
  std::vector<LoraOption> out;
  for (const std::string& value : values) {
    auto bad = [&](const std::string& why) {
      return InvalidArgumentError("option --lora '" + value + "': " + why +
                                  " (expected FILE.safetensors:SCALE or NAME:SCALE)");
    };
    const size_t colon = value.rfind(':');
    if (colon == std::string::npos) return bad("no :SCALE");
    const std::string file = value.substr(0, colon), scale_text = value.substr(colon + 1);
    LoraOption lora;
    try {
      size_t used = 0;
      lora.scale = std::stod(scale_text, &used);
      if (used != scale_text.size() || !std::isfinite(lora.scale)) throw std::invalid_argument("");
    } catch (const std::exception&) {
      return bad("the scale '" + scale_text + "' is not a number");
    }
    const std::filesystem::path path(file);
    if (path.extension() == ".safetensors") lora.path = file;
    lora.name = lora.path.empty() ? file : path.stem().string();
    if (lora.name.empty() || lora.name.find('/') != std::string::npos) return bad("no file name");
    out.push_back(std::move(lora));
  }
  return out;
}

boost::json::array LoraRequestJson(const std::vector<LoraOption>& loras) {
  boost::json::array out;
  for (const LoraOption& lora : loras) {
    out.push_back(boost::json::object{{"name", lora.name}, {"scale", lora.scale}});
  }
  return out;
}

std::map<std::string, std::string> LocalLoraFiles(const std::string& lora_dir,
                                                  const std::vector<LoraOption>& loras) {
  std::map<std::string, std::string> files = FindLoraFiles(lora_dir);
  for (const LoraOption& lora : loras) {
    if (!lora.path.empty()) files[lora.name] = lora.path;
  }
  return files;
}

}  // namespace stipple::app
