// The soak run's figures: one row per sample (the server's processes from /proc, its queue, and
// the submits answered around that time), as CSV and as a PNG of stacked panels over time
// (loadgen/chart.h), and the growth of each metric over the run as numbers.
//
// Contract:
// - BuildRows: one row per sample, in sample order. A row's `answered`/`errors` count the submits
//   (any kind) whose answer arrived in (t − interval, t], where interval is the time since the
//   previous sample (the first row: since 0); `submit_p99_ms` is the nearest-rank p99 of the
//   acknowledged non-sync submits (async, sse, webhook, cancel: their admission, from the
//   intended send time) answered in (t − p99_window_s, t], NaN when there were none. A submit's
//   answer time is its intended send time plus its answer latency. `load` marks the rows up to
//   LoadRun::send_s (the steady load); the rest is the drain.
// - Growth (per metric, over the rows under load only): the median of the first and of the last
//   `window_s` seconds and their difference, and the least-squares slope over the second half of
//   the load, per minute. With fewer than two rows under load every figure is 0.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "loadgen/chart.h"
#include "loadgen/load_run.h"
#include "proc_sampler.h"

namespace stipple::soak {

// What the sampler saw at one moment (seconds since the start of the load).
struct Sample {
  double at_s = 0;
  TreeFigures server;
  bool queue_read = false;  // GET /v1/queue answered
  int64_t queued = 0;
  int64_t running = 0;
};

struct Row {
  double t_s = 0;
  bool load = false;
  int64_t processes = 0;
  double rss_mb = 0;  // the whole tree, MiB
  double serve_rss_mb = 0;
  int64_t fds = 0;
  int64_t serve_fds = 0;
  int64_t threads = 0;
  int64_t serve_threads = 0;
  int64_t queued = -1;  // -1: the queue was not read
  int64_t running = -1;
  int64_t answered = 0;
  int64_t errors = 0;
  double submit_p99_ms = 0;  // NaN: no submit in the window
};

std::vector<Row> BuildRows(const std::vector<Sample>& samples, const loadgen::LoadRun& run,
                           double p99_window_s);

// A header line, then one line per row; NaN is written as an empty field.
std::string FormatCsv(const std::vector<Row>& rows);

struct Growth {
  std::string metric;        // "rss_mb", "fds", "threads", "queued", "submit_p99_ms"
  double median = 0;         // over every row under load
  double first = 0;          // median of the first window
  double last = 0;           // median of the last window
  double delta = 0;          // last − first
  double slope_per_min = 0;  // least squares over the second half
};

std::vector<Growth> Growths(const std::vector<Row>& rows, double window_s);
// A fixed-width table of Growths, one metric a line.
std::string FormatGrowth(const std::vector<Growth>& growth, double window_s);

// Least-squares slope of y over x (0 for fewer than two points or x all equal); non-finite y left
// out.
double LinearSlope(const std::vector<std::pair<double, double>>& points);
// The median (the mean of the two middle values for an even count); 0 for none. NaN left out.
double Median(std::vector<double> values);

// Four panels over time: memory (MiB), descriptors and threads, the queue, submit p99 (ms, log).
loadgen::Chart BuildSoakChart(const std::vector<Row>& rows, const std::string& title,
                              double p99_window_s);

}  // namespace stipple::soak
