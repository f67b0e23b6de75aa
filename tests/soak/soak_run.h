// The soak run (docs/reliability.md#soak): `stipple serve` on the null model under a steady mixed
// load from `stipple bench`'s generator (src/loadgen) for a long time, while a sampler reads, every
// `interval`, the server's resident memory, open descriptors and threads (serve and its worker
// processes, proc_sampler.h) and its queue (GET /v1/queue). Afterwards the samples are joined with
// the load's records (soak_report.h) and written to `out_dir`: soak.csv, soak.png and soak.txt
// (the load's figures, the growth of each metric, the serve command).
//
// The server runs with serve's defaults except: --model null (no GPU work: the control plane
// alone), --webhook-allow-private (the load's webhook receiver is on loopback), --listen on a free
// loopback port, --data-dir in a fresh temp folder (removed afterwards), and --worker-processes
// when `worker_processes` > 0. The load starts once GET /v1/queue shows every worker online; serve
// is stopped with SIGTERM at the end. Sample times and the load's times share one origin (the
// load's own start is a few milliseconds later: its client is made and tried first).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"
#include "loadgen/load_run.h"
#include "soak_report.h"

namespace stipple::soak {

struct SoakOptions {
  std::string binary;     // the stipple binary
  std::string model_dir;  // --model-dir (empty: serve's default)
  int worker_processes = 0;
  double rate = 20;  // submits per second
  std::chrono::nanoseconds duration = std::chrono::minutes(30);
  std::string mix = "async=3,sync=2,sse=2,webhook=2,cancel=1";
  std::chrono::nanoseconds interval = std::chrono::seconds(1);
  double p99_window_s = 10;
  double growth_window_s = 300;  // the first and last windows compared (at most a sixth of the run)
  std::chrono::nanoseconds drain = std::chrono::seconds(60);
  std::string out_dir;    // created if missing
  bool progress = false;  // a line on stderr every minute
};

struct SoakResult {
  std::vector<std::string> serve_argv;
  loadgen::LoadRun run;
  std::vector<Row> rows;
  std::vector<Growth> growth;
  double growth_window_s = 0;
  std::string summary;  // what soak.txt holds
  std::string csv_path, png_path, summary_path;
};

// kInvalidArgument for bad options (naming them), kUnavailable when serve does not start;
// otherwise the run, whatever the server answered.
Result<SoakResult> RunSoak(const SoakOptions& options);

}  // namespace stipple::soak
