// Latency figures of a load run: the summary of a set of samples, and a run's samples put in time
// buckets for the plot. Percentiles are by nearest rank over every sample (bench/bench_report.h's
// Percentile: no histogram, no interpolation), so p99.9 of fewer than 1,000 samples is the
// largest. An empty set has count 0 and every figure 0.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

namespace stipple::loadgen {

using Nanos = std::chrono::nanoseconds;

struct LatencySummary {
  int64_t count = 0;
  double mean_ms = 0;
  double p50_ms = 0;
  double p90_ms = 0;
  double p99_ms = 0;
  double p999_ms = 0;
  double max_ms = 0;
};

LatencySummary Summarize(std::vector<Nanos> samples);

// A sample with the time it belongs to (seconds since the start of the run).
struct TimedSample {
  double at_s = 0;
  Nanos value{0};
};

// One bucket of a time series: the samples whose at_s fell in [start_s, start_s + width).
struct Bucket {
  double start_s = 0;
  LatencySummary summary;
};

// Puts `samples` into consecutive buckets of `width_s` seconds from 0 up to the last sample's;
// empty buckets are kept (count 0). Samples before 0 go to the first bucket. None for no samples
// or a width <= 0.
std::vector<Bucket> BucketByTime(const std::vector<TimedSample>& samples, double width_s);

}  // namespace stipple::loadgen
