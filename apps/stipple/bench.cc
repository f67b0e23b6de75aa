// `stipple bench --server URL`: an open-loop load generator for any stipple deployment
// (src/loadgen): requests at a fixed rate for a fixed time in a mix of async, sync, sse and webhook
// submits, then the figures (table, or JSON lines with --json) and, with --plot, a PNG of latency
// and queue depth over time. Exit 0 when every acknowledged task was seen to end, 1 when some were
// lost or none was acknowledged, 2 for a bad command line, 5 for an unreachable server.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "client_options.h"
#include "commands.h"
#include "common_options.h"
#include "loadgen/load_report.h"
#include "loadgen/load_run.h"

namespace stipple::app {
namespace {

const OptionSpec kBenchOptions[] = {
    {.name = "rate",
     .default_value = "100",
     .help = "submits per second, sent on schedule whatever the server does (open loop)",
     .value_name = "N"},
    {.name = "duration-s",
     .default_value = "10",
     .help = "how long to send",
     .value_name = "SECONDS"},
    {.name = "mix",
     .default_value = "async",
     .help = "kinds of request and their weights: async (then polled), sync (Prefer: wait), sse "
             "(then followed), webhook (a receiver on loopback); e.g. async=70,sync=10,sse=10,"
             "webhook=10",
     .value_name = "KIND=W,..."},
    {.name = "model", .help = "the model to ask for; default: the server's", .value_name = "NAME"},
    {.name = "steps",
     .default_value = "0",
     .help = "steps per task; 0: the model's default",
     .value_name = "N"},
    {.name = "connections",
     .default_value = "64",
     .help = "senders, each with one request in flight on its own connection",
     .value_name = "N"},
    {.name = "wait-s",
     .default_value = "60",
     .help = "sync submits: Prefer: wait=N",
     .value_name = "SECONDS"},
    {.name = "poll-ms",
     .default_value = "100",
     .help = "how often an async task is polled until it ends",
     .value_name = "MS"},
    {.name = "pollers", .default_value = "4", .help = "polling threads", .value_name = "N"},
    {.name = "drain-s",
     .default_value = "30",
     .help = "after the last submit, how long tasks get to end before they count as lost",
     .value_name = "SECONDS"},
    {.name = "queue-sample-ms",
     .default_value = "250",
     .help = "how often GET /v1/queue is read for the queue depth",
     .value_name = "MS"},
    {.name = "webhook-host",
     .default_value = "127.0.0.1",
     .help = "the address the server reaches this machine's webhook receiver at (the server "
             "needs --webhook-allow-private)",
     .value_name = "HOST"},
    {.name = "plot",
     .help = "write a PNG of latency and queue depth over time here",
     .value_name = "FILE.png"},
};

constexpr const char* kUsage = "stipple bench [OPTIONS]";

int Usage(const Status& status) {
  std::fprintf(stderr, "stipple bench: %s\n", status.ToString().c_str());
  return kExitUsage;
}

Result<loadgen::LoadOptions> ReadOptions(const Config& config) {
  loadgen::LoadOptions o;
  o.server_url = config.GetString("server");
  o.api_key = config.GetString("api-key");
  if (config.Has("model")) o.model = config.GetString("model");
  ASSIGN_OR_RETURN(o.rate, config.GetDouble("rate"));
  ASSIGN_OR_RETURN(double duration, config.GetDouble("duration-s"));
  if (!(duration > 0) || duration > 86'400) {
    return InvalidArgumentError("--duration-s must be in (0, 86400]");
  }
  o.duration = std::chrono::duration_cast<loadgen::Nanos>(std::chrono::duration<double>(duration));
  ASSIGN_OR_RETURN(o.mix, loadgen::ParseMix(config.GetString("mix")));
  ASSIGN_OR_RETURN(int64_t steps, config.GetInt("steps"));
  ASSIGN_OR_RETURN(int64_t connections, config.GetInt("connections"));
  ASSIGN_OR_RETURN(int64_t wait_s, config.GetInt("wait-s"));
  ASSIGN_OR_RETURN(int64_t poll_ms, config.GetInt("poll-ms"));
  ASSIGN_OR_RETURN(int64_t pollers, config.GetInt("pollers"));
  ASSIGN_OR_RETURN(double drain_s, config.GetDouble("drain-s"));
  ASSIGN_OR_RETURN(int64_t sample_ms, config.GetInt("queue-sample-ms"));
  if (!(drain_s >= 0) || drain_s > 86'400) return InvalidArgumentError("--drain-s: 0..86400");
  o.steps = static_cast<int>(std::clamp<int64_t>(steps, -1, 1000));
  o.connections = static_cast<int>(std::clamp<int64_t>(connections, -1, 100'000));
  o.wait_s = static_cast<int>(std::clamp<int64_t>(wait_s, -1, 1000));
  o.poll_interval = std::chrono::milliseconds(poll_ms);
  o.pollers = static_cast<int>(std::clamp<int64_t>(pollers, -1, 1000));
  o.drain = std::chrono::duration_cast<loadgen::Nanos>(std::chrono::duration<double>(drain_s));
  o.queue_sample = std::chrono::milliseconds(sample_ms);
  o.webhook_host = config.GetString("webhook-host");
  RETURN_IF_ERROR(loadgen::CheckLoadOptions(o));
  return o;
}

// The run in one line: with the server and the connections for the table, without them (shorter)
// for the plot's title.
std::string Describe(const loadgen::LoadOptions& o, bool full) {
  char text[512];
  std::snprintf(text, sizeof text, "stipple bench: %s%smodel %s, %g/s for %g s, mix %s",
                full ? o.server_url.c_str() : "", full ? ", " : "",
                o.model.empty() ? "(default)" : o.model.c_str(), o.rate,
                std::chrono::duration<double>(o.duration).count(),
                loadgen::FormatMix(o.mix).c_str());
  std::string line = text;
  if (full) line += ", " + std::to_string(o.connections) + " connections";
  return line;
}

}  // namespace

int RunBench(std::span<const std::string> args) {
  ParsedOptions parsed =
      ParseClientCommandOptions(kUsage, std::span<const OptionSpec>(kBenchOptions), args);
  if (!parsed.config) return parsed.exit_code;
  const Config& config = *parsed.config;
  if (!config.positional().empty()) {
    return Usage(InvalidArgumentError("unexpected argument " + config.positional()[0]));
  }
  Result<loadgen::LoadOptions> options = ReadOptions(config);
  if (!options.ok()) return Usage(options.status());
  const std::string title = Describe(*options, true);
  if (!WantsJson(config)) {
    std::printf("%s\n", title.c_str());
    std::fflush(stdout);
  }
  Result<loadgen::LoadRun> run = loadgen::RunLoad(*options);
  if (!run.ok()) return ReportError("bench", run.status(), config);
  const bench::BenchReport report = loadgen::BuildReport(*run);
  if (WantsJson(config)) {
    std::fputs(report.JsonLines().c_str(), stdout);
  } else {
    std::printf("%s\n%s", bench::BenchReport::MachineLine(bench::DescribeMachine()).c_str(),
                report.Table().c_str());
  }
  for (const auto& [error, count] : loadgen::ErrorCounts(*run)) {
    std::fprintf(stderr, "stipple bench: %lld submits: %s\n", static_cast<long long>(count),
                 error.c_str());
  }
  if (config.Has("plot")) {
    const std::string path = config.GetString("plot");
    Result<std::string> png =
        loadgen::RenderChart(loadgen::BuildChart(*run, Describe(*options, false)));
    if (png.ok()) {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out << *png;
      if (!out) png = UnavailableError("cannot write " + path);
    }
    if (!png.ok()) {
      std::fprintf(stderr, "stipple bench: --plot %s: %s\n", path.c_str(),
                   png.status().ToString().c_str());
      return kExitFailure;
    }
  }
  int64_t acknowledged = 0, lost = 0;
  for (const loadgen::RequestRecord& r : run->requests) {
    acknowledged += r.acknowledged ? 1 : 0;
    lost += r.acknowledged && r.final_state.empty() ? 1 : 0;
  }
  if (lost > 0) {
    std::fprintf(stderr, "stipple bench: %lld acknowledged tasks not seen to end\n",
                 static_cast<long long>(lost));
  }
  return acknowledged == 0 || lost > 0 ? kExitFailure : kExitOk;
}

}  // namespace stipple::app
