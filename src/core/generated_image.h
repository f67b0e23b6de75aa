// GeneratedImage: one image an engine made, on its way to the result store. The one type from
// the engine's answer (Engine::Generate) through the worker (its complete message on the worker
// protocol, WorkSource::Complete) to the service that stores it.
#pragma once

#include <cstdint>
#include <string>

namespace stipple {

struct GeneratedImage {
  std::string png;  // RGB8 PNG bytes
  int width = 0;
  int height = 0;
  uint32_t seed = 0;  // the seed this image was drawn with (request seed + its index)

  bool operator==(const GeneratedImage&) const = default;
};

}  // namespace stipple
