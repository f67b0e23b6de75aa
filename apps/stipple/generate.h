// `stipple generate`: one command, two ways to run it. Without --local it submits the request to
// a server and follows the task (generate_remote.cc); with --local it runs the engine in this
// process (generate_local.cc). Both build the same API request body from the same options.
#pragma once

#include <string>

#include "common/config.h"

namespace stipple::app {

// The engine in this process; `body` is the API request body the options describe.
int GenerateLocal(const Config& config, const std::string& body);
// Through the server named by --server.
int GenerateThroughServer(const Config& config, const std::string& body);

// Where image `index` of `count` goes: `output` itself for one image, else "STEM-INDEX.EXT".
std::string OutputPath(const std::string& output, int index, int count);

}  // namespace stipple::app
