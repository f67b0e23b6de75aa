// What a benchmark reports: its figures, each with a unit and, where there is one, the baseline it
// is compared with, printed as an aligned table for people and as JSON lines for tools:
//
//   machine: AMD EPYC · 2 cores
//   bench     metric  value     unit   baseline  ratio
//   id_bench  new_id  6.02e+06  ids/s  2.31e+07  0.261
//   {"bench": "id_bench", "metric": "new_id", "value": 6.02e+06, "unit": "ids/s", ...}
//
// ratio = value / baseline. A benchmark prints what it measured; it never asserts a time.
#pragma once

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stipple::bench {

struct Figure {
  std::string bench;
  std::string metric;
  double value = 0;
  std::string unit;
  std::optional<double> baseline;  // same unit as value

  // value / baseline; empty without a (non-zero) baseline.
  std::optional<double> ratio() const;
};

// The machine a benchmark ran on.
struct MachineInfo {
  unsigned cores = 0;     // std::thread::hardware_concurrency()
  std::string cpu_model;  // "model name" from /proc/cpuinfo; "unknown" when absent
};
MachineInfo DescribeMachine();

// Collects one benchmark's figures. Not thread-safe: add figures from the benchmark's main thread.
class BenchReport {
 public:
  explicit BenchReport(std::string bench) : bench_(std::move(bench)) {}

  void Add(std::string metric, double value, std::string unit);
  void Add(std::string metric, double value, std::string unit, double baseline);

  const std::vector<Figure>& figures() const { return figures_; }

  // "machine: CPU · N cores".
  static std::string MachineLine(const MachineInfo& machine);
  // The aligned table, header row first, one row per figure.
  std::string Table() const;
  // One JSON object per figure, one per line; baseline and ratio only where there is a baseline.
  std::string JsonLines() const;

  // The machine line, the table and the JSON lines, to `out`.
  void Print(std::FILE* out = stdout) const;

 private:
  std::string bench_;
  std::vector<Figure> figures_;
};

// The p-th percentile (0..100) of `samples` by the nearest-rank method; zero when empty.
std::chrono::nanoseconds Percentile(std::vector<std::chrono::nanoseconds> samples, double p);
inline std::chrono::nanoseconds P50(std::vector<std::chrono::nanoseconds> samples) {
  return Percentile(std::move(samples), 50);
}
inline std::chrono::nanoseconds P99(std::vector<std::chrono::nanoseconds> samples) {
  return Percentile(std::move(samples), 99);
}

}  // namespace stipple::bench
