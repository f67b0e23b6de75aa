// Reading a whole file as text, with the errors every reader of config files reports the same way.
#pragma once

#include <string>

#include "common/status.h"

namespace stipple {

// The file's bytes. kNotFound "PATH: no such file" when it does not exist; kUnavailable naming
// the path and the system's reason when it cannot be read.
Result<std::string> ReadTextFile(const std::string& path);

}  // namespace stipple
