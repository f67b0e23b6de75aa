#include "loadgen/load_report.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace stipple::loadgen {
namespace {

void AddLatency(bench::BenchReport& report, const std::string& name,
                const std::vector<Nanos>& samples) {
  if (samples.empty()) return;
  const LatencySummary s = Summarize(samples);
  report.Add(name + "_p50", s.p50_ms, "ms");
  report.Add(name + "_p99", s.p99_ms, "ms");
  report.Add(name + "_p99.9", s.p999_ms, "ms");
  report.Add(name + "_max", s.max_ms, "ms");
}

bool IsSync(const RequestRecord& r) { return r.kind == RequestKind::kSync; }

}  // namespace

bench::BenchReport BuildReport(const LoadRun& run) {
  bench::BenchReport report("stipple_bench");
  int64_t acknowledged = 0, errors = 0, lost = 0, failed = 0;
  std::vector<Nanos> submit, sync, queue_wait, end_to_end, seen;
  for (const RequestRecord& r : run.requests) {
    if (r.answer_latency && r.acknowledged)
      (IsSync(r) ? sync : submit).push_back(*r.answer_latency);
    if (!r.acknowledged) {
      ++errors;
      continue;
    }
    ++acknowledged;
    if (r.final_state.empty()) {
      ++lost;
      continue;
    }
    if (r.final_state != "succeeded") ++failed;
    if (r.queue_wait) queue_wait.push_back(*r.queue_wait);
    if (r.end_to_end) end_to_end.push_back(*r.end_to_end);
    if (r.seen_end) seen.push_back(*r.seen_end);
  }
  report.Add("sent", double(run.requests.size()), "requests");
  report.Add("acknowledged", double(acknowledged), "tasks");
  report.Add("acknowledged_per_s", run.send_s > 0 ? double(acknowledged) / run.send_s : 0,
             "tasks/s");
  report.Add("errors", double(errors), "requests");
  report.Add("lost", double(lost), "tasks");
  report.Add("failed", double(failed), "tasks");
  AddLatency(report, "submit", submit);
  AddLatency(report, "sync", sync);
  AddLatency(report, "queue_wait", queue_wait);
  AddLatency(report, "end_to_end", end_to_end);
  AddLatency(report, "seen_end_to_end", seen);
  int64_t max_queued = 0;
  for (const QueueSample& q : run.queue) max_queued = std::max(max_queued, q.queued);
  report.Add("max_queued", double(max_queued), "tasks");
  return report;
}

std::map<std::string, int64_t> ErrorCounts(const LoadRun& run) {
  std::map<std::string, int64_t> counts;
  for (const RequestRecord& r : run.requests) {
    if (!r.acknowledged) ++counts[r.error.empty() ? "not sent" : r.error];
  }
  return counts;
}

Chart BuildChart(const LoadRun& run, const std::string& title) {
  std::vector<TimedSample> submit, sync;
  for (const RequestRecord& r : run.requests) {
    if (!r.answer_latency || !r.acknowledged) continue;
    (IsSync(r) ? sync : submit).push_back({r.intended_s, *r.answer_latency});
  }
  const double width = std::max(0.1, run.send_s / 60);
  auto lines = [width](const std::vector<TimedSample>& samples, const std::string& what,
                       std::vector<std::pair<std::string, Rgb>> styles) {
    std::vector<Series> out;
    const std::vector<Bucket> buckets = BucketByTime(samples, width);
    for (size_t k = 0; k < styles.size(); ++k) {
      Series s{.label = what + styles[k].first, .colour = styles[k].second};
      for (const Bucket& b : buckets) {
        const double x = b.start_s + width / 2;
        const LatencySummary& m = b.summary;
        const double y = m.count == 0 ? NAN : (k == 0 ? m.p50_ms : k == 1 ? m.p99_ms : m.max_ms);
        s.points.emplace_back(x, y);
      }
      out.push_back(std::move(s));
    }
    return out;
  };
  Panel latency{.title = "submit latency (ms, from the intended send time)", .log_y = true};
  const std::string prefix = sync.empty() ? "" : "ack ";
  for (Series& s :
       lines(submit, prefix,
             {{"p50", {31, 119, 180}}, {"p99", {214, 39, 40}}, {"max", {150, 150, 150}}})) {
    latency.series.push_back(std::move(s));
  }
  for (Series& s : lines(sync, "sync ", {{"p50", {44, 160, 44}}, {"p99", {148, 103, 189}}})) {
    latency.series.push_back(std::move(s));
  }
  Panel queue{.title = "tasks on the server"};
  Series queued{.label = "queued", .colour = {255, 127, 14}};
  Series running{.label = "running", .colour = {23, 190, 207}};
  for (const QueueSample& q : run.queue) {
    queued.points.emplace_back(q.at_s, double(q.queued));
    running.points.emplace_back(q.at_s, double(q.running));
  }
  queue.series = {std::move(queued), std::move(running)};
  return Chart{
      .title = title, .x_label = "time (s)", .panels = {std::move(latency), std::move(queue)}};
}

}  // namespace stipple::loadgen
