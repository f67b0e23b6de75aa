#include "model_dir.h"

#include <system_error>

namespace stipple::app {

namespace fs = std::filesystem;

BuildTree ThisBuildTree() {
  return {.build_dir = STIPPLE_BUILD_DIR, .source_dir = STIPPLE_SOURCE_DIR};
}

namespace {

// Whether `path` lies inside `dir` (both absolute; compared after normalization).
bool IsUnder(const fs::path& path, const fs::path& dir) {
  if (dir.empty()) return false;
  fs::path relative = path.lexically_normal().lexically_relative(dir.lexically_normal());
  return !relative.empty() && *relative.begin() != "..";
}

}  // namespace

std::vector<fs::path> BundledModelCandidates(const fs::path& executable, const BuildTree& tree) {
  std::vector<fs::path> candidates;
  fs::path prefix = executable.parent_path().parent_path();
  candidates.push_back(
      (prefix / "share" / "stipple" / "models" / kBundledModelName).lexically_normal());
  if (IsUnder(executable, tree.build_dir)) {
    candidates.push_back((tree.source_dir / "models" / kBundledModelName).lexically_normal());
  }
  return candidates;
}

Result<fs::path> CurrentExecutable() {
  std::error_code error;
  fs::path exe = fs::read_symlink("/proc/self/exe", error);
  if (error) {
    return NotFoundError("cannot read /proc/self/exe to find the bundled model: " +
                         error.message());
  }
  return exe;
}

Result<std::string> ResolveModelDir(const Config& config, const fs::path& executable,
                                    const BuildTree& tree) {
  if (config.Has("model-dir")) return config.GetString("model-dir");
  std::string tried;
  for (const fs::path& candidate : BundledModelCandidates(executable, tree)) {
    std::error_code error;
    if (fs::is_directory(candidate, error)) return candidate.string();
    tried += (tried.empty() ? "" : ", ") + candidate.string();
  }
  return NotFoundError("no --model-dir given and the bundled model " +
                       std::string(kBundledModelName) + " is not installed beside " +
                       executable.string() + " (tried " + tried +
                       "); give --model-dir PATH or STIPPLE_MODEL_DIR");
}

Result<std::string> ResolveModelDir(const Config& config) {
  if (config.Has("model-dir")) return config.GetString("model-dir");
  ASSIGN_OR_RETURN(fs::path executable, CurrentExecutable());
  return ResolveModelDir(config, executable, ThisBuildTree());
}

}  // namespace stipple::app
