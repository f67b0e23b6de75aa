#include "soak_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>

#include "loadgen/latency_stats.h"

namespace stipple::soak {
namespace {

using loadgen::RequestKind;
using loadgen::RequestRecord;

// A submit's answer: when it came (seconds from the start) and how long it took.
struct Answer {
  double at_s = 0;
  bool acknowledged = false;
  bool timed = false;  // counts towards the submit p99
  loadgen::Nanos latency{0};
};

std::vector<Answer> Answers(const loadgen::LoadRun& run) {
  std::vector<Answer> out;
  for (const RequestRecord& r : run.requests) {
    if (!r.answer_latency) continue;
    const double latency_s = std::chrono::duration<double>(*r.answer_latency).count();
    out.push_back(Answer{.at_s = r.intended_s + latency_s,
                         .acknowledged = r.acknowledged,
                         .timed = r.acknowledged && r.kind != RequestKind::kSync,
                         .latency = *r.answer_latency});
  }
  std::sort(out.begin(), out.end(),
            [](const Answer& a, const Answer& b) { return a.at_s < b.at_s; });
  return out;
}

double Mib(int64_t bytes) { return double(bytes) / (1024.0 * 1024.0); }

struct Metric {
  const char* name;
  std::function<double(const Row&)> value;  // NaN: no value in this row
};

const std::vector<Metric>& Metrics() {
  static const std::vector<Metric> metrics = {
      {"rss_mb", [](const Row& r) { return r.rss_mb; }},
      {"fds", [](const Row& r) { return double(r.fds); }},
      {"threads", [](const Row& r) { return double(r.threads); }},
      {"queued", [](const Row& r) { return r.queued < 0 ? NAN : double(r.queued); }},
      {"submit_p99_ms", [](const Row& r) { return r.submit_p99_ms; }},
  };
  return metrics;
}

std::string Number(double v) {
  if (!std::isfinite(v)) return "";
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", v);
  std::string s = text;
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

}  // namespace

std::vector<Row> BuildRows(const std::vector<Sample>& samples, const loadgen::LoadRun& run,
                           double p99_window_s) {
  const std::vector<Answer> answers = Answers(run);
  std::vector<Row> rows;
  size_t counted = 0;      // answers up to the previous row
  size_t window_from = 0;  // first answer inside the p99 window
  for (const Sample& s : samples) {
    Row row;
    row.t_s = s.at_s;
    row.load = s.at_s <= run.send_s;
    row.processes = s.server.processes;
    row.rss_mb = Mib(s.server.total.rss_bytes);
    row.serve_rss_mb = Mib(s.server.root.rss_bytes);
    row.fds = s.server.total.fds;
    row.serve_fds = s.server.root.fds;
    row.threads = s.server.total.threads;
    row.serve_threads = s.server.root.threads;
    if (s.queue_read) {
      row.queued = s.queued;
      row.running = s.running;
    }
    for (; counted < answers.size() && answers[counted].at_s <= s.at_s; ++counted) {
      ++row.answered;
      if (!answers[counted].acknowledged) ++row.errors;
    }
    while (window_from < counted && answers[window_from].at_s <= s.at_s - p99_window_s) {
      ++window_from;
    }
    std::vector<loadgen::Nanos> window;
    for (size_t i = window_from; i < counted; ++i) {
      if (answers[i].timed) window.push_back(answers[i].latency);
    }
    row.submit_p99_ms = window.empty() ? NAN : loadgen::Summarize(std::move(window)).p99_ms;
    rows.push_back(row);
  }
  return rows;
}

std::string FormatCsv(const std::vector<Row>& rows) {
  std::string out =
      "t_s,load,processes,rss_mb,serve_rss_mb,fds,serve_fds,threads,serve_threads,queued,running,"
      "answered,errors,submit_p99_ms\n";
  for (const Row& r : rows) {
    const std::vector<std::string> fields = {Number(r.t_s),
                                             r.load ? "1" : "0",
                                             std::to_string(r.processes),
                                             Number(r.rss_mb),
                                             Number(r.serve_rss_mb),
                                             std::to_string(r.fds),
                                             std::to_string(r.serve_fds),
                                             std::to_string(r.threads),
                                             std::to_string(r.serve_threads),
                                             r.queued < 0 ? "" : std::to_string(r.queued),
                                             r.running < 0 ? "" : std::to_string(r.running),
                                             std::to_string(r.answered),
                                             std::to_string(r.errors),
                                             Number(r.submit_p99_ms)};
    for (size_t i = 0; i < fields.size(); ++i) {
      if (i > 0) out += ',';
      out += fields[i];
    }
    out += '\n';
  }
  return out;
}

double LinearSlope(const std::vector<std::pair<double, double>>& points) {
  double n = 0, sx = 0, sy = 0;
  for (const auto& [x, y] : points) {
    if (!std::isfinite(y)) continue;
    n += 1;
    sx += x;
    sy += y;
  }
  if (n < 2) return 0;
  const double mx = sx / n, my = sy / n;
  double sxy = 0, sxx = 0;
  for (const auto& [x, y] : points) {
    if (!std::isfinite(y)) continue;
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) * (x - mx);
  }
  return sxx > 0 ? sxy / sxx : 0;
}

double Median(std::vector<double> values) {
  std::erase_if(values, [](double v) { return !std::isfinite(v); });
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

std::vector<Growth> Growths(const std::vector<Row>& rows, double window_s) {
  std::vector<const Row*> load;
  for (const Row& r : rows) {
    if (r.load) load.push_back(&r);
  }
  std::vector<Growth> out;
  for (const Metric& m : Metrics()) {
    Growth g{.metric = m.name};
    out.push_back(g);
    if (load.size() < 2) continue;
    const double start = load.front()->t_s, end = load.back()->t_s;
    const double half = (start + end) / 2;
    std::vector<double> all, first, last;
    std::vector<std::pair<double, double>> second_half;
    for (const Row* r : load) {
      const double v = m.value(*r);
      all.push_back(v);
      if (r->t_s < start + window_s) first.push_back(v);
      if (r->t_s > end - window_s) last.push_back(v);
      if (r->t_s >= half) second_half.emplace_back(r->t_s / 60, v);
    }
    Growth& o = out.back();
    o.median = Median(all);
    o.first = Median(first);
    o.last = Median(last);
    o.delta = o.last - o.first;
    o.slope_per_min = LinearSlope(second_half);
  }
  return out;
}

std::string FormatGrowth(const std::vector<Growth>& growth, double window_s) {
  char line[256];
  std::snprintf(line, sizeof line, "%-14s %12s %12s %12s %12s %16s\n", "metric", "median", "first",
                "last", "last-first", "slope/min (2nd half)");
  std::string out = "growth under load (first/last: medians of the first and last " +
                    Number(window_s) + " s)\n" + line;
  for (const Growth& g : growth) {
    std::snprintf(line, sizeof line, "%-14s %12.3f %12.3f %12.3f %+12.3f %+16.4f\n",
                  g.metric.c_str(), g.median, g.first, g.last, g.delta, g.slope_per_min);
    out += line;
  }
  return out;
}

loadgen::Chart BuildSoakChart(const std::vector<Row>& rows, const std::string& title,
                              double p99_window_s) {
  using loadgen::Panel;
  using loadgen::Series;
  Series rss{.label = "all processes", .colour = {31, 119, 180}};
  Series serve_rss{.label = "serve process", .colour = {255, 127, 14}};
  Series fds{.label = "open descriptors", .colour = {44, 160, 44}};
  Series threads{.label = "threads", .colour = {148, 103, 189}};
  Series queued{.label = "queued", .colour = {255, 127, 14}};
  Series running{.label = "running", .colour = {23, 190, 207}};
  Series p99{.label = "p99", .colour = {214, 39, 40}};
  for (const Row& r : rows) {
    rss.points.emplace_back(r.t_s, r.rss_mb);
    serve_rss.points.emplace_back(r.t_s, r.serve_rss_mb);
    fds.points.emplace_back(r.t_s, double(r.fds));
    threads.points.emplace_back(r.t_s, double(r.threads));
    queued.points.emplace_back(r.t_s, r.queued < 0 ? NAN : double(r.queued));
    running.points.emplace_back(r.t_s, r.running < 0 ? NAN : double(r.running));
    p99.points.emplace_back(r.t_s, r.submit_p99_ms);
  }
  std::vector<Panel> panels;
  panels.push_back(Panel{.title = "resident memory (mib)", .series = {rss, serve_rss}});
  panels.push_back(
      Panel{.title = "descriptors and threads (all processes)", .series = {fds, threads}});
  panels.push_back(Panel{.title = "tasks on the server", .series = {queued, running}});
  panels.push_back(
      Panel{.title = "submit p99 (ms, answers of the last " + Number(p99_window_s) + " s)",
            .log_y = true,
            .series = {p99}});
  return loadgen::Chart{.title = title,
                        .x_label = "time (s)",
                        .panels = std::move(panels),
                        .width = 1000,
                        .height = 900};
}

}  // namespace stipple::soak
