// stipple_chaos: the long chaos run (docs/reliability.md). The CI-sized run is chaos_test.
//
//   stipple_chaos [--mode embedded|distributed|both] [--duration-s 1800] [--rate 15]
//                 [--seed N] [--min-gap-ms 1000] [--max-gap-ms 3000] [--binary PATH]
//
// --binary: the stipple binary the deployments run (default: this build's).
//
// Prints each mode's report (seed, faults, tasks, violations) and the faults in order; exit 0
// when every mode shows 0 violations, 1 otherwise, 2 for a bad command line.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "chaos_options.h"

namespace {

using namespace stipple;
using namespace stipple::chaos;

int Usage(const std::string& why) {
  std::fprintf(stderr,
               "stipple_chaos: %s\nusage: stipple_chaos [--mode embedded|distributed|both] "
               "[--duration-s S] [--rate N] [--seed N] [--min-gap-ms MS] [--max-gap-ms MS] "
               "[--binary PATH]\n",
               why.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags = {{"mode", "both"},
                                              {"duration-s", "1800"},
                                              {"rate", "15"},
                                              {"seed", ""},
                                              {"min-gap-ms", "1000"},
                                              {"max-gap-ms", "3000"},
                                              {"binary", STIPPLE_BINARY}};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0 || !flags.contains(arg.substr(2)) || i + 1 >= argc) {
      return Usage("unknown or incomplete option " + arg);
    }
    flags[arg.substr(2)] = argv[++i];
  }
  const std::string mode = flags["mode"];
  if (mode != "embedded" && mode != "distributed" && mode != "both") return Usage("--mode");
  char* end = nullptr;
  const double duration = std::strtod(flags["duration-s"].c_str(), &end);
  const double rate = std::strtod(flags["rate"].c_str(), nullptr);
  const long min_gap = std::strtol(flags["min-gap-ms"].c_str(), nullptr, 10);
  const long max_gap = std::strtol(flags["max-gap-ms"].c_str(), nullptr, 10);
  if (!(duration >= 1) || !(rate > 0) || min_gap < 100 || max_gap < min_gap) {
    return Usage("--duration-s >= 1, --rate > 0, 100 <= --min-gap-ms <= --max-gap-ms");
  }
  if (!flags["seed"].empty()) setenv("STIPPLE_CHAOS_SEED", flags["seed"].c_str(), 1);
  const DeploymentOptions deployment{.binary = flags["binary"],
                                     .model_dir = STIPPLE_MODEL_DIR,
                                     .lease_s = 3,
                                     .worker_processes = 2,
                                     .gateways = 2};
  int violations = 0;
  for (const std::string m : {"embedded", "distributed"}) {
    if (mode != "both" && mode != m) continue;
    ChaosOptions options =
        MakeChaosOptions(ChaosSeed(), rate, std::chrono::seconds(static_cast<int64_t>(duration)));
    options.min_gap = std::chrono::milliseconds(min_gap);
    options.max_gap = std::chrono::milliseconds(max_gap);
    std::printf("== chaos %s: %g/s for %g s, mix %s, a fault every %ld–%ld ms, seed %llu\n",
                m.c_str(), rate, duration, kChaosMix, min_gap, max_gap,
                static_cast<unsigned long long>(options.seed));
    std::fflush(stdout);
    Result<std::unique_ptr<Deployment>> d =
        m == "embedded" ? MakeEmbedded(deployment) : MakeDistributed(deployment);
    if (!d.ok()) {
      std::fprintf(stderr, "stipple_chaos: %s\n", d.status().ToString().c_str());
      return 1;
    }
    Result<ChaosReport> report = RunChaos(**d, options);
    if (!report.ok()) {
      std::fprintf(stderr, "stipple_chaos: %s\n%s\n", report.status().ToString().c_str(),
                   (*d)->Logs().c_str());
      return 1;
    }
    std::printf("%s", report->Summary(100).c_str());
    for (const std::string& line : report->log) std::printf("  %s\n", line.c_str());
    std::fflush(stdout);
    if (!report->violations.empty()) std::printf("%s\n", (*d)->Logs().c_str());
    violations += static_cast<int>(report->violations.size());
  }
  return violations == 0 ? 0 : 1;
}
