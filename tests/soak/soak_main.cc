// stipple_soak: the long soak run (docs/reliability.md#soak, `make soak`). soak_test runs a
// seconds-long one.
//
//   stipple_soak [--duration-s 1800] [--rate 20] [--mix async=3,sync=2,sse=2,webhook=2,cancel=1]
//                [--worker-processes 0] [--interval-ms 1000] [--p99-window-s 10]
//                [--growth-window-s 300] [--drain-s 60] [--out soak-out] [--binary PATH]
//                [--model-dir PATH]
//
// --binary: the stipple binary to serve with (default: this build's); --model-dir: the folder
// serve is given (default: the repository's models/shapes-32; only the null model is served).
//
// Writes OUT/soak.csv, OUT/soak.png and OUT/soak.txt and prints soak.txt; exit 0 when the run
// completed, 1 when it could not run, 2 for a bad command line.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "soak_run.h"

namespace {

using namespace stipple;

int Usage(const std::string& why) {
  std::fprintf(
      stderr,
      "stipple_soak: %s\nusage: stipple_soak [--duration-s S] [--rate N] [--mix MIX] "
      "[--worker-processes N] [--interval-ms MS] [--p99-window-s S] "
      "[--growth-window-s S] [--drain-s S] [--out DIR] [--binary PATH] [--model-dir PATH]\n",
      why.c_str());
  return 2;
}

bool Number(const std::string& text, double& out) {
  char* end = nullptr;
  out = std::strtod(text.c_str(), &end);
  return !text.empty() && end != nullptr && *end == '\0';
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags = {{"duration-s", "1800"},
                                              {"rate", "20"},
                                              {"mix", "async=3,sync=2,sse=2,webhook=2,cancel=1"},
                                              {"worker-processes", "0"},
                                              {"interval-ms", "1000"},
                                              {"p99-window-s", "10"},
                                              {"growth-window-s", "300"},
                                              {"drain-s", "60"},
                                              {"out", "soak-out"},
                                              {"binary", STIPPLE_BINARY},
                                              {"model-dir", STIPPLE_MODEL_DIR}};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0 || !flags.contains(arg.substr(2)) || i + 1 >= argc) {
      return Usage("unknown or incomplete option " + arg);
    }
    flags[arg.substr(2)] = argv[++i];
  }
  soak::SoakOptions options;
  double duration = 0, workers = 0, interval = 0, drain = 0;
  if (!Number(flags["duration-s"], duration) || !(duration >= 1)) return Usage("--duration-s >= 1");
  if (!Number(flags["rate"], options.rate)) return Usage("--rate: a number");
  if (!Number(flags["worker-processes"], workers)) return Usage("--worker-processes: a number");
  if (!Number(flags["interval-ms"], interval)) return Usage("--interval-ms: a number");
  if (!Number(flags["p99-window-s"], options.p99_window_s)) return Usage("--p99-window-s");
  if (!Number(flags["growth-window-s"], options.growth_window_s)) return Usage("--growth-window-s");
  if (!Number(flags["drain-s"], drain) || drain < 0) return Usage("--drain-s >= 0");
  options.duration = std::chrono::milliseconds(static_cast<int64_t>(duration * 1000));
  options.worker_processes = static_cast<int>(workers);
  options.interval = std::chrono::milliseconds(static_cast<int64_t>(interval));
  options.drain = std::chrono::milliseconds(static_cast<int64_t>(drain * 1000));
  options.mix = flags["mix"];
  options.out_dir = flags["out"];
  options.binary = flags["binary"];
  options.model_dir = flags["model-dir"];
  options.progress = true;
  Result<soak::SoakResult> result = soak::RunSoak(options);
  if (!result.ok()) {
    std::fprintf(stderr, "stipple_soak: %s\n", result.status().ToString().c_str());
    return result.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  std::printf("%s\nwrote %s, %s, %s\n", result->summary.c_str(), result->csv_path.c_str(),
              result->png_path.c_str(), result->summary_path.c_str());
  return 0;
}
