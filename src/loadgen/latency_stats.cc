#include "loadgen/latency_stats.h"

#include <algorithm>
#include <cmath>

#include "bench/bench_report.h"

namespace stipple::loadgen {
namespace {

double Ms(Nanos n) { return std::chrono::duration<double, std::milli>(n).count(); }

}  // namespace

LatencySummary Summarize(std::vector<Nanos> samples) {
  LatencySummary s;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  Nanos sum{0};
  for (Nanos v : samples) sum += v;
  s.count = static_cast<int64_t>(samples.size());
  s.mean_ms = Ms(sum) / static_cast<double>(samples.size());
  s.p50_ms = Ms(bench::Percentile(samples, 50));
  s.p90_ms = Ms(bench::Percentile(samples, 90));
  s.p99_ms = Ms(bench::Percentile(samples, 99));
  s.p999_ms = Ms(bench::Percentile(samples, 99.9));
  s.max_ms = Ms(samples.back());
  return s;
}

std::vector<Bucket> BucketByTime(const std::vector<TimedSample>& samples, double width_s) {
  if (samples.empty() || !(width_s > 0)) return {};
  double last = 0;
  for (const TimedSample& t : samples) last = std::max(last, t.at_s);
  const size_t n = static_cast<size_t>(std::floor(last / width_s)) + 1;
  std::vector<std::vector<Nanos>> values(n);
  for (const TimedSample& t : samples) {
    const double at = std::max(0.0, t.at_s);
    values[std::min(n - 1, static_cast<size_t>(std::floor(at / width_s)))].push_back(t.value);
  }
  std::vector<Bucket> out(n);
  for (size_t i = 0; i < n; ++i) {
    out[i].start_s = static_cast<double>(i) * width_s;
    out[i].summary = Summarize(std::move(values[i]));
  }
  return out;
}

}  // namespace stipple::loadgen
