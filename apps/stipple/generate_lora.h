// `stipple generate --lora FILE.safetensors:SCALE` (repeatable): LoRA files applied to the
// request. The value splits at its last ':' into the file and the scale. The LoRA's name is the
// file's stem ("styles/ink.safetensors" → "ink"; a bare "ink" is the file ink.safetensors of the
// model folder's loras/). Through a server the name is all that is sent: the server must have
// the file in its own loras/ folder. With --local a FILE.safetensors path may lie anywhere.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <boost/json/array.hpp>

#include "common/status.h"

namespace stipple::app {

struct LoraOption {
  std::string name;  // the file's stem
  std::string path;  // the file as given when it ends in .safetensors; empty for a bare name
  double scale = 1.0;
};

// The --lora values, in order. kInvalidArgument naming the option for a value without
// ":SCALE", a scale that is not a number, or no file name.
Result<std::vector<LoraOption>> ParseLoraOptions(const std::vector<std::string>& values);

// The request's "loras": [{"name", "scale"}, ...].
boost::json::array LoraRequestJson(const std::vector<LoraOption>& loras);

// --local: the LoRA files the engine may load, name → path: every file of `lora_dir`, then the
// paths given (which win over a file of the same name there).
std::map<std::string, std::string> LocalLoraFiles(const std::string& lora_dir,
                                                  const std::vector<LoraOption>& loras);

}  // namespace stipple::app
