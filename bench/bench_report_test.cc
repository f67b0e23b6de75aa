#include "bench/bench_report.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace stipple::bench {
namespace {

using std::chrono::nanoseconds;

std::vector<nanoseconds> OneToHundred() {
  std::vector<nanoseconds> v;
  for (int i = 100; i >= 1; --i) v.emplace_back(i);  // unsorted on purpose
  return v;
}

TEST(Percentile, UsesTheNearestRank) {
  EXPECT_EQ(P50(OneToHundred()), nanoseconds(50));
  EXPECT_EQ(P99(OneToHundred()), nanoseconds(99));
  EXPECT_EQ(Percentile(OneToHundred(), 100), nanoseconds(100));
  EXPECT_EQ(Percentile(OneToHundred(), 0), nanoseconds(1));
}

TEST(Percentile, OfOneSampleIsThatSample) { EXPECT_EQ(P99({nanoseconds(7)}), nanoseconds(7)); }

TEST(Percentile, OfNoSamplesIsZero) { EXPECT_EQ(P50({}), nanoseconds(0)); }

TEST(BenchReport, JsonLineHasBaselineAndRatioOnlyWhenThereIsABaseline) {
  BenchReport report("demo");
  report.Add("with_baseline", 50, "ops/s", 200);
  report.Add("alone", 1.5, "ms");
  EXPECT_EQ(report.JsonLines(),
            "{\"bench\": \"demo\", \"metric\": \"with_baseline\", \"value\": 50, \"unit\": "
            "\"ops/s\", \"baseline\": 200, \"ratio\": 0.25}\n"
            "{\"bench\": \"demo\", \"metric\": \"alone\", \"value\": 1.5, \"unit\": \"ms\"}\n");
}

TEST(BenchReport, JsonStringsAreEscaped) {
  BenchReport report("demo");
  report.Add("a \"quoted\" name", 1, "x");
  EXPECT_NE(report.JsonLines().find(R"("metric": "a \"quoted\" name")"), std::string::npos);
}

TEST(BenchReport, TableAlignsColumns) {
  BenchReport report("demo");
  report.Add("short", 1, "s", 2);
  report.Add("a_longer_metric", 1000, "ids/s");
  EXPECT_EQ(report.Table(),
            "bench  metric           value  unit   baseline  ratio\n"
            "demo   short            1      s      2         0.5\n"
            "demo   a_longer_metric  1000   ids/s  -         -\n");
}

TEST(BenchReport, MachineLineNamesCpuAndCores) {
  EXPECT_EQ(BenchReport::MachineLine({.cores = 2, .cpu_model = "Test CPU"}),
            "machine: Test CPU · 2 cores");
  EXPECT_GT(DescribeMachine().cores, 0u);
}

}  // namespace
}  // namespace stipple::bench
