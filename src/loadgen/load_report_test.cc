#include "loadgen/load_report.h"

#include <gtest/gtest.h>

namespace stipple::loadgen {
namespace {

using std::chrono::milliseconds;

const bench::Figure* Find(const bench::BenchReport& report, const std::string& metric) {
  for (const bench::Figure& f : report.figures()) {
    if (f.metric == metric) return &f;
  }
  return nullptr;
}

LoadRun SampleRun() {
  LoadRun run;
  run.send_s = 2;
  for (int i = 0; i < 10; ++i) {
    RequestRecord r;
    r.intended_s = i * 0.2;
    r.answer_latency = milliseconds(i + 1);
    r.acknowledged = true;
    r.task_id = "tsk_" + std::to_string(i);
    r.final_state = "succeeded";
    r.queue_wait = milliseconds(10 * i);
    r.end_to_end = milliseconds(10 * i + 5);
    r.seen_end = milliseconds(10 * i + 7);
    run.requests.push_back(r);
  }
  run.requests[7].final_state = "";  // acknowledged, never seen to end: lost
  run.requests[8].final_state = "failed";
  run.requests[9].acknowledged = false;
  run.requests[9].error = "RESOURCE_EXHAUSTED: queue full";
  run.requests[5].kind = RequestKind::kSync;
  run.queue = {{0, 3, 1}, {0.5, 12, 1}, {1, 0, 0}};
  return run;
}

TEST(BuildReport, CountsOutcomesAndSeparatesSyncAnswersFromAcknowledgements) {
  const bench::BenchReport report = BuildReport(SampleRun());
  EXPECT_EQ(Find(report, "sent")->value, 10);
  EXPECT_EQ(Find(report, "acknowledged")->value, 9);
  EXPECT_EQ(Find(report, "acknowledged_per_s")->value, 4.5);
  EXPECT_EQ(Find(report, "errors")->value, 1);
  EXPECT_EQ(Find(report, "lost")->value, 1);
  EXPECT_EQ(Find(report, "failed")->value, 1);
  EXPECT_EQ(Find(report, "submit_max")->value, 9);  // the sync answer (6 ms) and the error left out
  EXPECT_EQ(Find(report, "submit_p50")->value, 4);  // of 1,2,3,4,5,7,8,9
  EXPECT_EQ(Find(report, "sync_p50")->value, 6);
  EXPECT_EQ(Find(report, "queue_wait_max")->value, 80);  // the lost one has no figures
  EXPECT_EQ(Find(report, "max_queued")->value, 12);
  EXPECT_EQ(Find(report, "submit_p99")->unit, "ms");
  EXPECT_NE(report.JsonLines().find("\"bench\": \"stipple_bench\""), std::string::npos);
}

TEST(ErrorCounts, GroupsTheRefusals) {
  const auto counts = ErrorCounts(SampleRun());
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts.at("RESOURCE_EXHAUSTED: queue full"), 1);
}

TEST(BuildChart, HasALatencyAndAQueuePanel) {
  const Chart chart = BuildChart(SampleRun(), "t");
  ASSERT_EQ(chart.panels.size(), 2u);
  EXPECT_TRUE(chart.panels[0].log_y);
  EXPECT_EQ(chart.panels[0].series.size(), 5u);  // ack p50, p99, max; sync p50, p99
  EXPECT_EQ(chart.panels[1].series[0].points.size(), 3u);
  EXPECT_TRUE(RenderChart(chart).ok());
}

}  // namespace
}  // namespace stipple::loadgen
