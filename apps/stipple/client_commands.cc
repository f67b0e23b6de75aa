// The client commands besides generate: status, wait, cancel, events, list, models, queue. Each
// prints one line per task (or the server's JSON with --json) and exits with docs/cli.md's codes.
#include <cstdio>
#include <mutex>
#include <thread>

#include "client_format.h"
#include "client_options.h"
#include "commands.h"
#include "common/thread_annotations.h"

namespace stipple::app {
namespace {

// Parses the options and makes the client; answers the exit code to return at once, if any.
struct Setup {
  std::optional<Config> config;
  std::unique_ptr<client::Client> client;
  int exit_code = kExitOk;
};

Setup Prepare(std::string_view usage, std::span<const OptionSpec> specs,
              std::span<const std::string> args, bool needs_ids) {
  Setup setup;
  ParsedOptions parsed = ParseClientCommandOptions(usage, specs, args);
  if (!parsed.config) {
    setup.exit_code = parsed.exit_code;
    return setup;
  }
  const std::string command(usage.substr(8, usage.find(' ', 8) - 8));  // "stipple X ..."
  if (needs_ids && parsed.config->positional().empty()) {
    std::fprintf(stderr, "stipple %s: expected one or more task ids\n", command.c_str());
    setup.exit_code = kExitUsage;
    return setup;
  }
  if (!needs_ids && !parsed.config->positional().empty()) {
    std::fprintf(stderr, "stipple %s: unexpected argument '%s'\n", command.c_str(),
                 parsed.config->positional()[0].c_str());
    setup.exit_code = kExitUsage;
    return setup;
  }
  Result<std::unique_ptr<client::Client>> made = MakeClient(*parsed.config);
  if (!made.ok()) {
    std::fprintf(stderr, "stipple %s: %s\n", command.c_str(), made.status().message().c_str());
    setup.exit_code = kExitUsage;
    return setup;
  }
  setup.config = std::move(parsed.config);
  setup.client = std::move(made).value();
  return setup;
}

// The first non-zero code wins.
void Keep(int& exit_code, int code) {
  if (exit_code == kExitOk) exit_code = code;
}

void PrintTask(const client::TaskSnapshot& task, bool json) {
  std::printf("%s\n", json ? task.json.c_str() : FormatTaskLine(task).c_str());
  std::fflush(stdout);
}

const OptionSpec kWaitOptions[] = {
    {.name = "timeout",
     .help = "give up after this many seconds (exit 8; the task goes on); default: no limit",
     .value_name = "SECONDS"},
};

const OptionSpec kEventsOptions[] = {
    {.name = "after",
     .default_value = "0",
     .help = "start after this event number (as Last-Event-ID)",
     .value_name = "N"},
};

const OptionSpec kListOptions[] = {
    {.name = "status",
     .help = "only tasks in this state: queued, running, succeeded, failed, canceled, expired",
     .value_name = "STATE"},
    {.name = "limit", .default_value = "20", .help = "tasks per page, 1..100", .value_name = "N"},
    {.name = "cursor",
     .help = "the page after this cursor (printed by the last page)",
     .value_name = "CURSOR"},
};

}  // namespace

int RunStatus(std::span<const std::string> args) {
  Setup s = Prepare("stipple status TASK_ID... [OPTIONS]", {}, args, true);
  if (!s.config) return s.exit_code;
  int exit_code = kExitOk;
  for (const std::string& id : s.config->positional()) {
    Result<client::TaskSnapshot> task = s.client->Get(id);
    if (!task.ok()) {
      Keep(exit_code, ReportError("status", task.status().WithContext(id), *s.config));
      continue;
    }
    PrintTask(*task, WantsJson(*s.config));
  }
  return exit_code;
}

int RunWait(std::span<const std::string> args) {
  Setup s =
      Prepare("stipple wait TASK_ID... [--timeout SECONDS] [OPTIONS]", kWaitOptions, args, true);
  if (!s.config) return s.exit_code;
  std::optional<client::Millis> timeout;
  if (s.config->Has("timeout")) {
    Result<double> seconds = s.config->GetDouble("timeout");
    if (!seconds.ok() || *seconds <= 0) {
      std::fprintf(stderr, "stipple wait: option --timeout: expected seconds above 0\n");
      return kExitUsage;
    }
    timeout = client::Millis(static_cast<int64_t>(*seconds * 1000));
  }
  const auto start = std::chrono::steady_clock::now();
  int exit_code = kExitOk;
  for (const std::string& id : s.config->positional()) {
    std::optional<client::Millis> left;
    if (timeout) {
      left = std::max(client::Millis(1), *timeout - std::chrono::duration_cast<client::Millis>(
                                                        std::chrono::steady_clock::now() - start));
    }
    Result<client::TaskSnapshot> task = s.client->Wait(id, left);
    if (!task.ok()) {
      Keep(exit_code, ReportError("wait", task.status().WithContext(id), *s.config));
      continue;
    }
    PrintTask(*task, WantsJson(*s.config));
    Keep(exit_code, ExitCodeForState(task->task.state));
  }
  return exit_code;
}

int RunCancel(std::span<const std::string> args) {
  Setup s = Prepare("stipple cancel TASK_ID... [OPTIONS]", {}, args, true);
  if (!s.config) return s.exit_code;
  int exit_code = kExitOk;
  for (const std::string& id : s.config->positional()) {
    Result<client::CancelResult> canceled = s.client->Cancel(id);
    if (!canceled.ok()) {
      Keep(exit_code, ReportError("cancel", canceled.status().WithContext(id), *s.config));
      continue;
    }
    PrintTask(canceled->task, WantsJson(*s.config));
    if (canceled->already_ended) {
      std::fprintf(stderr, "stipple cancel: %s had already %s; nothing to cancel\n", id.c_str(),
                   std::string(TaskStateName(canceled->task.task.state)).c_str());
      Keep(exit_code, kExitFailure);
    }
  }
  return exit_code;
}

int RunEvents(std::span<const std::string> args) {
  Setup s = Prepare("stipple events TASK_ID... [--after N] [OPTIONS]", kEventsOptions, args, true);
  if (!s.config) return s.exit_code;
  Result<int64_t> after = s.config->GetInt("after");
  if (!after.ok() || *after < 0) {
    std::fprintf(stderr, "stipple events: option --after: expected an event number, 0 or more\n");
    return kExitUsage;
  }
  const bool json = WantsJson(*s.config);
  Mutex print_mu;
  int exit_code = kExitOk;
  std::vector<std::thread> streams;  // one per task, so their events interleave as they come
  for (const std::string& id : s.config->positional()) {
    streams.emplace_back([&, id] {
      Status status = s.client->StreamEvents(id, *after, [&](const client::EventSnapshot& e) {
        MutexLock lock(print_mu);
        std::printf("%s\n", json ? e.json.c_str() : FormatEventLine(e).c_str());
        std::fflush(stdout);
        return true;
      });
      if (!status.ok()) {
        MutexLock lock(print_mu);
        Keep(exit_code, ReportError("events", status.WithContext(id), *s.config));
      }
    });
  }
  for (std::thread& t : streams) t.join();
  return exit_code;
}

int RunList(std::span<const std::string> args) {
  Setup s = Prepare("stipple list [--status STATE] [--limit N] [--cursor C] [OPTIONS]",
                    kListOptions, args, false);
  if (!s.config) return s.exit_code;
  client::ListOptions options;
  options.status = s.config->GetString("status");
  options.cursor = s.config->GetString("cursor");
  Result<int64_t> limit = s.config->GetInt("limit");
  if (!limit.ok()) {
    std::fprintf(stderr, "stipple list: %s\n", limit.status().message().c_str());
    return kExitUsage;
  }
  options.limit = static_cast<int>(*limit);
  Result<client::TaskPage> page = s.client->List(options);
  if (!page.ok()) return ReportError("list", page.status(), *s.config);
  if (WantsJson(*s.config)) {
    std::printf("%s\n", page->json.c_str());
    return kExitOk;
  }
  std::printf("%s\n", TaskRowHeader().c_str());
  for (const client::TaskSnapshot& task : page->tasks) {
    std::printf("%s\n", FormatTaskRow(task).c_str());
  }
  if (!page->next_cursor.empty()) {
    std::fprintf(stderr, "more: stipple list --cursor %s\n", page->next_cursor.c_str());
  }
  return kExitOk;
}

int RunModels(std::span<const std::string> args) {
  Setup s = Prepare("stipple models [OPTIONS]", {}, args, false);
  if (!s.config) return s.exit_code;
  Result<client::ModelList> models = s.client->Models();
  if (!models.ok()) return ReportError("models", models.status(), *s.config);
  if (WantsJson(*s.config)) {
    std::printf("%s\n", models->json.c_str());
    return kExitOk;
  }
  std::printf("%-16s  %-8s  %-14s  %-9s  %-9s  %s\n", "MODEL", "SIZE", "STEPS (max)", "GUIDANCE",
              "CLIP SKIP", "SCHEDULERS (default first)");
  for (const client::ModelInfo& m : models->models) {
    std::string schedulers = m.default_scheduler;
    for (const std::string& name : m.schedulers) {
      if (name != m.default_scheduler) schedulers += ", " + name;
    }
    const std::string size = std::to_string(m.width) + "x" + std::to_string(m.height);
    const std::string steps =
        std::to_string(m.default_steps) + " (" + std::to_string(m.max_steps) + ")";
    const std::string clip_skip = "0.." + std::to_string(m.max_clip_skip);
    std::printf("%-16s  %-8s  %-14s  %-9.1f  %-9s  %s%s\n", m.id.c_str(), size.c_str(),
                steps.c_str(), m.default_guidance_scale, clip_skip.c_str(), schedulers.c_str(),
                m.is_default ? "  [default]" : "");
  }
  return kExitOk;
}

int RunQueue(std::span<const std::string> args) {
  Setup s = Prepare("stipple queue [OPTIONS]", {}, args, false);
  if (!s.config) return s.exit_code;
  Result<client::QueueFigures> q = s.client->Queue();
  if (!q.ok()) return ReportError("queue", q.status(), *s.config);
  if (WantsJson(*s.config)) {
    std::printf("%s\n", q->json.c_str());
    return kExitOk;
  }
  auto seconds = [](const std::optional<double>& s) {
    return s ? FormatSeconds(*s) : std::string("-");
  };
  std::printf("queued       %lld  (high %lld, normal %lld, low %lld)\n",
              static_cast<long long>(q->queued_high) + q->queued_normal + q->queued_low,
              static_cast<long long>(q->queued_high), static_cast<long long>(q->queued_normal),
              static_cast<long long>(q->queued_low));
  std::printf("running      %lld\n", static_cast<long long>(q->running));
  std::printf("workers      %lld online, %lld busy (desired %lld)\n",
              static_cast<long long>(q->workers_online), static_cast<long long>(q->workers_busy),
              static_cast<long long>(q->desired_workers));
  std::printf("oldest       %s\n", seconds(q->oldest_queued_age_s).c_str());
  std::printf("est. wait    %s\n", seconds(q->estimated_wait_s).c_str());
  std::printf("mean run     %s\n", seconds(q->mean_run_s).c_str());
  std::printf("throughput   %.1f tasks/min\n", q->throughput_per_min);
  return kExitOk;
}

int RunWorkers(std::span<const std::string> args) {
  Setup s = Prepare("stipple workers [OPTIONS]", {}, args, false);
  if (!s.config) return s.exit_code;
  Result<client::WorkerList> list = s.client->Workers();
  if (!list.ok()) return ReportError("workers", list.status(), *s.config);
  if (WantsJson(*s.config)) {
    std::printf("%s\n", list->json.c_str());
    return kExitOk;
  }
  auto join = [](const std::vector<std::string>& items) {
    std::string out;
    for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
    return out.empty() ? std::string("-") : out;
  };
  std::printf("%-30s  %-9s  %-16s  %-8s  %-6s  %s\n", "WORKER", "STATE", "HOST", "DEVICE", "TASKS",
              "MODELS");
  for (const client::WorkerEntry& w : list->workers) {
    std::printf("%-30s  %-9s  %-16s  %-8s  %-6zu  %s\n", w.id.c_str(), w.state.c_str(),
                w.host.empty() ? "-" : w.host.c_str(), w.device.empty() ? "-" : w.device.c_str(),
                w.current_tasks.size(), join(w.models).c_str());
  }
  if (list->workers.empty()) std::fprintf(stderr, "no workers registered\n");
  return kExitOk;
}

}  // namespace stipple::app
