// Webhook delivery on this machine, to a loopback receiver (a C++ test double that answers 200
// at once), through the real path: the SQLite outbox rows written with the task completions,
// signed with HMAC-SHA256, sent by the libcurl dispatcher, outcomes recorded in the outbox.
//  1. deliveries/s: kBacklog completed tasks' deliveries waiting in the outbox, drained by the
//     dispatcher (target: 5,000/s), per wall-clock second and per CPU-second of the process;
//  2. the delay from an acknowledged task completion to the receiver having the request, p50 and
//     p99, with the dispatcher running and completions arriving one at a time.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <thread>
#include <vector>

#include "bench/bench_report.h"
#include "common/id.h"
#include "store/sqlite/sqlite_task_store.h"
#include "webhook/dispatcher.h"
#include "webhook/sqlite_outbox.h"
#include "webhook/test_receiver.h"

namespace stipple {
namespace {

using Steady = std::chrono::steady_clock;

constexpr int kBacklog = 20'000;
constexpr int kLatencySamples = 400;

GenerationRequest Request(const std::string& url) {
  GenerationRequest r;
  r.prompt = "a big red circle on the left";
  r.model = "shapes-32";
  r.width = r.height = 32;
  r.steps = 20;
  r.guidance_scale = 4.0;
  r.scheduler = "ddim";
  r.seed = 42;
  r.webhook = WebhookSpec{url, {"completed"}};
  return r;
}

struct Rig {
  std::filesystem::path dir;
  webhook::SqliteWebhookOutbox outbox;
  std::unique_ptr<SqliteTaskStore> store;
  webhook::testing::TestReceiver receiver;
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

  // Enqueues, leases and completes `n` tasks (batches of 256); returns their ids.
  std::vector<std::string> CompleteTasks(int n) {
    std::vector<std::string> ids;
    while (static_cast<int>(ids.size()) < n) {
      const int batch = std::min(256, n - static_cast<int>(ids.size()));
      for (int i = 0; i < batch; ++i) {
        NewTask t{NewId("tsk"), "bench", Request(url)};
        (void)store->Enqueue(t);
      }
      auto leased = store->Lease({.worker_id = "w", .models = {"shapes-32"}, .max_tasks = batch});
      std::vector<Completion> done;
      for (const auto& l : *leased) {
        done.push_back(Completion{l.task.id, l.task.fencing, {}, SystemClock::Get()->Now()});
        ids.push_back(l.task.id);
      }
      (void)store->Complete(done);
    }
    return ids;
  }
};

webhook::WebhookDispatcherOptions Options() {
  webhook::WebhookDispatcherOptions o;
  o.secrets = {webhook::GenerateSecret()};
  o.allow_private = true;  // the receiver is on loopback
  o.max_concurrency = 256;
  o.max_per_host = 64;
  return o;
}

// CPU seconds this process has used (every thread: dispatcher, SQLite writer, receiver double).
double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::string TaskIdOf(const std::string& body) {
  const size_t at = body.find("\"id\":\"tsk_");
  return at == std::string::npos ? "" : body.substr(at + 6, 30);
}

}  // namespace
}  // namespace stipple

int main() {
  using namespace stipple;
  bench::BenchReport report("webhook_bench");
  {
    Rig rig;
    rig.CompleteTasks(kBacklog);
    webhook::WebhookDispatcher dispatcher(rig.outbox, Options());
    const auto start = Steady::now();
    const double cpu_start = CpuSeconds();
    (void)dispatcher.Start();
    rig.receiver.WaitFor(kBacklog, std::chrono::minutes(10));
    const double s = std::chrono::duration<double>(Steady::now() - start).count();
    const double cpu = CpuSeconds() - cpu_start;
    report.Add("deliveries_per_s", rig.receiver.count() / s, "deliveries/s", 5000);
    // On a shared machine the wall-clock rate depends on the neighbours; the rate per CPU-second
    // (sender, SQLite writer and the receiver double together) does not.
    report.Add("deliveries_per_cpu_s", rig.receiver.count() / cpu, "deliveries/cpu-s", 5000);
  }
  {
    Rig rig;
    webhook::WebhookDispatcher dispatcher(rig.outbox, Options());
    (void)dispatcher.Start();
    std::map<std::string, Steady::time_point> completed;
    for (int i = 0; i < kLatencySamples; ++i) {
      const std::string id = rig.CompleteTasks(1).front();
      completed[id] = Steady::now();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    rig.receiver.WaitFor(kLatencySamples, std::chrono::minutes(2));
    std::vector<double> delays;
    for (const auto& r : rig.receiver.requests()) {
      auto it = completed.find(TaskIdOf(r.body));
      if (it != completed.end()) {
        delays.push_back(std::chrono::duration<double, std::milli>(r.arrived - it->second).count());
      }
    }
    std::sort(delays.begin(), delays.end());
    if (!delays.empty()) {
      report.Add("completion_to_delivery_p50", delays[delays.size() / 2], "ms");
      report.Add("completion_to_delivery_p99", delays[delays.size() * 99 / 100], "ms");
    }
  }
  report.Print();
  return 0;
}
