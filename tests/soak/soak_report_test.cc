#include "soak_report.h"

#include <gtest/gtest.h>

#include <cmath>

namespace stipple::soak {
namespace {

using loadgen::RequestKind;
using loadgen::RequestRecord;
using std::chrono::milliseconds;

Sample At(double t, int64_t rss_mib, int64_t fds, int64_t threads, int64_t queued) {
  Sample s{.at_s = t, .queue_read = true, .queued = queued, .running = 1};
  s.server.processes = 2;
  s.server.total = {.rss_bytes = rss_mib * 1024 * 1024, .threads = threads, .fds = fds};
  s.server.root = {.rss_bytes = rss_mib * 512 * 1024, .threads = threads / 2, .fds = fds / 2};
  return s;
}

RequestRecord Answered(RequestKind kind, double intended_s, int latency_ms, bool acknowledged) {
  RequestRecord r;
  r.kind = kind;
  r.intended_s = intended_s;
  r.answer_latency = milliseconds(latency_ms);
  r.acknowledged = acknowledged;
  return r;
}

TEST(BuildRows, CountsAnswersPerIntervalAndTakesP99OverTheWindow) {
  loadgen::LoadRun run;
  run.send_s = 2.5;
  run.requests = {Answered(RequestKind::kAsync, 0.1, 100, true),    // at 0.2
                  Answered(RequestKind::kSync, 0.2, 900, true),     // at 1.1, not in the p99
                  Answered(RequestKind::kSse, 1.0, 300, true),      // at 1.3
                  Answered(RequestKind::kAsync, 1.5, 20, false),    // at 1.52, an error
                  Answered(RequestKind::kWebhook, 2.9, 50, true)};  // at 2.95
  RequestRecord unanswered;
  run.requests.push_back(unanswered);
  const std::vector<Row> rows =
      BuildRows({At(1, 100, 10, 20, 0), At(2, 100, 10, 20, 3), At(3, 100, 10, 20, 0)}, run, 1.5);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].answered, 1);
  EXPECT_EQ(rows[0].errors, 0);
  EXPECT_DOUBLE_EQ(rows[0].submit_p99_ms, 100);
  EXPECT_EQ(rows[1].answered, 3);
  EXPECT_EQ(rows[1].errors, 1);
  EXPECT_DOUBLE_EQ(rows[1].submit_p99_ms, 300);  // 0.2 is outside (0.5, 2]; sync not counted
  EXPECT_EQ(rows[2].answered, 1);
  EXPECT_DOUBLE_EQ(rows[2].submit_p99_ms, 50);  // (1.5, 3]: the sse answer at 1.3 is out
  EXPECT_TRUE(rows[0].load);
  EXPECT_FALSE(rows[2].load);
  EXPECT_EQ(rows[1].queued, 3);
  EXPECT_DOUBLE_EQ(rows[0].rss_mb, 100);
  EXPECT_DOUBLE_EQ(rows[0].serve_rss_mb, 50);
  EXPECT_EQ(rows[0].serve_fds, 5);
  EXPECT_EQ(rows[0].processes, 2);

  const std::vector<Row> empty_window = BuildRows({At(10, 1, 1, 1, 0)}, run, 1);
  EXPECT_TRUE(std::isnan(empty_window[0].submit_p99_ms));
}

TEST(FormatCsv, HeaderThenOneLinePerRowWithGapsForMissingValues) {
  Row r{.t_s = 1.5, .load = true, .processes = 2, .rss_mb = 12.25, .fds = 9, .threads = 30};
  r.submit_p99_ms = NAN;
  const std::string csv = FormatCsv({r});
  EXPECT_EQ(csv,
            "t_s,load,processes,rss_mb,serve_rss_mb,fds,serve_fds,threads,serve_threads,queued,"
            "running,answered,errors,submit_p99_ms\n"
            "1.5,1,2,12.25,0,9,0,30,0,,,0,0,\n");
}

TEST(LinearSlope, FitsALineAndIgnoresGaps) {
  EXPECT_DOUBLE_EQ(LinearSlope({{0, 1}, {1, 3}, {2, 5}, {3, NAN}}), 2);
  EXPECT_DOUBLE_EQ(LinearSlope({{0, 1}}), 0);
  EXPECT_DOUBLE_EQ(LinearSlope({{1, 1}, {1, 2}}), 0);
  EXPECT_DOUBLE_EQ(Median({3, 1, 2}), 2);
  EXPECT_DOUBLE_EQ(Median({4, 1, 2, 3, NAN}), 2.5);
  EXPECT_DOUBLE_EQ(Median({}), 0);
}

TEST(Growths, FirstAndLastWindowsAndTheSecondHalfsSlope) {
  // Memory grows 1 MiB a second for 100 s; descriptors stay flat; then a drain row that is
  // left out.
  std::vector<Sample> samples;
  for (int t = 1; t <= 100; ++t) samples.push_back(At(t, 100 + t, 40, 30, 0));
  samples.push_back(At(130, 1000, 400, 300, 0));
  loadgen::LoadRun run;
  run.send_s = 100;
  const std::vector<Growth> g = Growths(BuildRows(samples, run, 10), 10);
  ASSERT_EQ(g.size(), 5u);
  EXPECT_EQ(g[0].metric, "rss_mb");
  EXPECT_DOUBLE_EQ(g[0].first, 105.5);  // t 1..10
  EXPECT_DOUBLE_EQ(g[0].last, 195.5);   // t 91..100 (after 100 − 10)
  EXPECT_DOUBLE_EQ(g[0].delta, 90);
  EXPECT_NEAR(g[0].slope_per_min, 60, 1e-9);
  EXPECT_EQ(g[1].metric, "fds");
  EXPECT_DOUBLE_EQ(g[1].delta, 0);
  EXPECT_DOUBLE_EQ(g[1].slope_per_min, 0);
  EXPECT_DOUBLE_EQ(g[1].median, 40);
  EXPECT_EQ(g[4].metric, "submit_p99_ms");
  EXPECT_DOUBLE_EQ(g[4].delta, 0);  // no submits: every window empty
  EXPECT_NE(FormatGrowth(g, 10).find("rss_mb"), std::string::npos);
}

TEST(BuildSoakChart, RendersFourPanels) {
  std::vector<Sample> samples;
  for (int t = 1; t <= 20; ++t) samples.push_back(At(t, 100, 40, 30, t % 3));
  loadgen::LoadRun run;
  run.send_s = 20;
  run.requests = {Answered(RequestKind::kAsync, 1, 10, true)};
  const loadgen::Chart chart = BuildSoakChart(BuildRows(samples, run, 10), "soak", 10);
  EXPECT_EQ(chart.panels.size(), 4u);
  Result<std::string> png = loadgen::RenderChart(chart);
  ASSERT_TRUE(png.ok()) << png.status().ToString();
  EXPECT_EQ(png->substr(1, 3), "PNG");
}

}  // namespace
}  // namespace stipple::soak
