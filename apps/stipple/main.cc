// stipple: serves text-to-image diffusion models behind an HTTP API. The commands are listed by
// `stipple help` and defined in commands.cc.
#include <string>
#include <vector>

#include "commands.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return stipple::app::RunCommandLine(args);
}
