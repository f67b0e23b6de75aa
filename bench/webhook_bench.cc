// Webhook delivery on this machine, to a loopback receiver (a C++ test double that answers 200
// at once), through the real path: the SQLite outbox rows written with the task completions,
// signed with HMAC-SHA256, sent by the libcurl dispatcher, outcomes recorded in the outbox.
//  1. deliveries/s: kBacklog completed tasks' deliveries waiting in the outbox, drained by the
//     dispatcher (target: 5,000/s), per wall-clock second and per CPU-second of the process;
//  2. the delay from an acknowledged task completion to the receiver having the request, p50 and
//     p99, with the dispatcher running and completions arriving one at a time.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <vector>

#include "bench/bench_report.h"
#include "bench/webhook_bench_support.h"
#include "common/id.h"
#include "store/sqlite/sqlite_task_store.h"
#include "webhook/dispatcher.h"
#include "webhook/sqlite_outbox.h"
#include "webhook/webhook_receiver.h"

namespace stipple {
namespace {

using Steady = std::chrono::steady_clock;

constexpr int kBacklog = 20'000;
constexpr int kLatencySamples = 400;

struct Rig {
  std::filesystem::path dir;
  webhook::SqliteWebhookOutbox outbox;
  std::unique_ptr<SqliteTaskStore> store;
  webhook::WebhookReceiver receiver;
  std::string url;

  Rig() : dir(std::filesystem::temp_directory_path() / ("stipple-webhook-bench-" + NewId("tmp"))) {
    std::filesystem::create_directories(dir);
    auto s = SqliteTaskStore::Open({.path = (dir / "tasks.db").string(), .listener = &outbox});
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.status().ToString().c_str());
      std::exit(1);
    }
    store = std::move(*s);
    outbox.Attach(store.get());
    url = "http://127.0.0.1:" + std::to_string(receiver.port()) + "/hook";
  }
  ~Rig() {
    store.reset();
    std::filesystem::remove_all(dir);
  }

  // Enqueues, leases and completes `n` tasks; returns their ids.
  std::vector<std::string> CompleteTasks(int n) {
    return bench::CompleteWebhookTasks(*store, url, n);
  }
};

}  // namespace
}  // namespace stipple

int main() {
  using namespace stipple;
  bench::BenchReport report("webhook_bench");
  {
    Rig rig;
    rig.CompleteTasks(kBacklog);
    webhook::WebhookDispatcher dispatcher(rig.outbox, bench::BenchDispatcherOptions());
    const auto start = Steady::now();
    const double cpu_start = bench::ProcessCpuSeconds();
    (void)dispatcher.Start();
    rig.receiver.WaitFor(kBacklog, std::chrono::minutes(10));
    const double s = std::chrono::duration<double>(Steady::now() - start).count();
    const double cpu = bench::ProcessCpuSeconds() - cpu_start;
    report.Add("deliveries_per_s", rig.receiver.count() / s, "deliveries/s", 5000);
    // On a shared machine the wall-clock rate depends on the neighbours; the rate per CPU-second
    // (sender, SQLite writer and the receiver double together) does not.
    report.Add("deliveries_per_cpu_s", rig.receiver.count() / cpu, "deliveries/cpu-s", 5000);
  }
  {
    Rig rig;
    webhook::WebhookDispatcher dispatcher(rig.outbox, bench::BenchDispatcherOptions());
    (void)dispatcher.Start();
    bench::AddCompletionToDelivery(report, rig.receiver, kLatencySamples,
                                   [&] { return rig.CompleteTasks(1).front(); });
  }
  report.Print();
  return 0;
}
