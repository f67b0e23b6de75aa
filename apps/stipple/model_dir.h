// Which model directory a command runs on. An explicit --model-dir (the flag, STIPPLE_MODEL_DIR
// or the config file) always wins, as given. Without one, the bundled shapes-32 model is looked
// for relative to the stipple executable, never the current directory, so a command works from
// any working directory:
//   installed   <prefix>/bin/stipple  →  <prefix>/share/stipple/models/shapes-32
//   build tree  an executable under the build directory it was built in  →  the checkout's
//               models/shapes-32 (so `make serve` and the tests run on the checkout's model)
// Every command with a --model-dir option (serve, gateway, worker, generate --local, eval) reads
// it through ResolveModelDir.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/status.h"

namespace stipple::app {

// The name of the model shipped with stipple.
inline constexpr char kBundledModelName[] = "shapes-32";

// Where a build of stipple came from: the build tree an executable of it lives in while it is not
// installed, and the source tree holding models/.
struct BuildTree {
  std::filesystem::path build_dir;
  std::filesystem::path source_dir;
};

// This binary's own build tree (fixed when it was compiled).
BuildTree ThisBuildTree();

// The places the bundled model may be for the executable at `executable` (an absolute path), in
// the order they are tried: the installed layout, then the checkout when `executable` lies under
// `tree.build_dir`.
std::vector<std::filesystem::path> BundledModelCandidates(const std::filesystem::path& executable,
                                                          const BuildTree& tree);

// The running executable's path (/proc/self/exe); an error names the link when it cannot be read.
Result<std::filesystem::path> CurrentExecutable();

// --model-dir when `config` has one; else the first candidate of BundledModelCandidates that is a
// directory. kNotFound when none is, naming every path tried and how to give --model-dir.
Result<std::string> ResolveModelDir(const Config& config, const std::filesystem::path& executable,
                                    const BuildTree& tree);
// The same for this process: CurrentExecutable() and ThisBuildTree().
Result<std::string> ResolveModelDir(const Config& config);

}  // namespace stipple::app
