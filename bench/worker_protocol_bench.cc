// The worker protocol's cost on loopback: a Worker on a RemoteWorkSource, over one HTTP
// connection to a gateway's /v1/worker/exchange, on a real ServiceStack (SQLite store without
// fsync, file results without fsync, in-memory events). The engine is a test double that returns
// at once (TestDoubleEngine, 1 step), so what is measured is the queue and the protocol.
//
// Figures:
//  - tasks/s end to end: N tasks submitted at once, until the last one succeeded;
//  - enqueue → start latency with an idle worker (p50, p99): from Submit's return (the task is
//    durable and queued) to the engine's Generate call starting, one task at a time, the worker
//    waiting in a held ask between them. Target: p99 ≤ 2 ms.
// Baseline for each: the same Worker in process, calling the ServiceStack's WorkSource directly.
// And the batch path (a batch's completions in one exchange, one PutBatch, one store write) against
// each task reported on its own (bench/per_task_reports.h), both remote and in process.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api/api_server.h"
#include "bench/bench_report.h"
#include "bench/per_task_reports.h"
#include "common/id.h"
#include "notify/in_memory_event_bus.h"
#include "results/fs_result_store.h"
#include "service/service_stack.h"
#include "store/sqlite/sqlite_task_store.h"
#include "worker/remote_work_source.h"
#include "worker/testing/worker_test_doubles.h"
#include "worker/worker.h"

namespace {

using namespace stipple;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::nanoseconds;

constexpr int kThroughputTasks = 1000;
constexpr int kLatencyTasks = 300;
constexpr const char* kToken = "bench-worker-token-0123456789";

struct Figures {
  double tasks_per_s = 0;
  nanoseconds start_p50{};
  nanoseconds start_p99{};
};

NewTask MakeTask(int i) {
  NewTask t;
  t.id = NewId("tsk");
  t.tenant = "bench";
  t.request.prompt = "task " + std::to_string(i);
  t.request.model = "test-model";
  t.request.width = 8;
  t.request.height = 8;
  t.request.steps = 1;
  t.request.guidance_scale = 4;
  t.request.scheduler = "ddim";
  t.request.seed = static_cast<uint32_t>(i);
  return t;
}

bool Succeeded(TaskService& service, const std::string& id) {
  Result<Task> t = service.Get("", id);
  return t.ok() && t->state == TaskState::kSucceeded;
}

void WaitSucceeded(TaskService& service, const std::string& id) {
  while (!Succeeded(service, id)) std::this_thread::sleep_for(std::chrono::microseconds(200));
}

// `batched` false: the baseline of the batch path (bench/per_task_reports.h) — the worker
// reports each task of a batch on its own (over the protocol: one exchange per completion).
Figures Measure(bool remote, bool batched = true) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() /
                       ("stipple-wp-bench-" + std::to_string(::getpid()) + (remote ? "-r" : "-l"));
  fs::remove_all(dir);
  fs::create_directories(dir);
  Figures figures;
  {
    auto store =
        SqliteTaskStore::Open({.path = (dir / "tasks.db").string(), .sync_full = false}).value();
    auto results = FsResultStore::Open({.dir = (dir / "outputs").string(), .sync = false}).value();
    InMemoryEventBus bus;
    bench::PerRecordResultStore per_record(*results);
    ServiceStack service(*store, bus, batched ? static_cast<ResultStore&>(*results) : per_record,
                         {.max_queue = 0});
    TestDoubleEngine engine({.preview_every = 0});
    std::unique_ptr<http::ApiServer> server;
    std::unique_ptr<RemoteWorkSource> remote_source;
    WorkSource* source = &service.work();
    if (remote) {
      http::ApiServerOptions options;
      options.port = 0;
      options.io_threads = 2;
      server = std::make_unique<http::ApiServer>(service.tasks(), ModelCatalog{{engine.limits()}},
                                                 options);
      server->gateway().EnableWorkerProtocol(service.work(), {.tokens = {kToken}});
      if (!server->Start().ok()) std::abort();
      remote_source = RemoteWorkSource::Create(
                          {.gateway_url = "http://127.0.0.1:" + std::to_string(server->port()),
                           .token = kToken})
                          .value();
      source = remote_source.get();
    }
    bench::PerTaskWorkSource per_task(*source);
    if (!batched) source = &per_task;
    WorkerOptions options;
    options.max_batch = 4;
    options.batch_window = Millis(0);
    options.preview_every = 0;
    options.lease_wait = Millis(2'000);
    Worker worker(source, {&engine}, options);
    if (!worker.Start().ok()) std::abort();

    // Throughput.
    const auto t0 = SteadyClock::now();
    std::vector<std::string> ids;
    for (int i = 0; i < kThroughputTasks; ++i) {
      NewTask t = MakeTask(i);
      ids.push_back(t.id);
      if (!service.tasks().Submit(t).ok()) std::abort();
    }
    for (auto it = ids.rbegin(); it != ids.rend(); ++it) WaitSucceeded(service.tasks(), *it);
    figures.tasks_per_s =
        kThroughputTasks / std::chrono::duration<double>(SteadyClock::now() - t0).count();

    // Latency, one task at a time with the worker idle in between.
    std::vector<nanoseconds> latencies;
    const size_t calls_before = engine.calls().size();
    for (int i = 0; i < kLatencyTasks; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // back to its held ask
      NewTask t = MakeTask(kThroughputTasks + i);
      if (!service.tasks().Submit(t).ok()) std::abort();
      const auto enqueued = SteadyClock::now();
      WaitSucceeded(service.tasks(), t.id);
      std::vector<TestDoubleEngine::Call> calls = engine.calls();
      if (calls.size() != calls_before + i + 1) std::abort();
      latencies.push_back(std::max(nanoseconds(0), calls.back().start - enqueued));
    }
    figures.start_p50 = bench::P50(latencies);
    figures.start_p99 = bench::P99(latencies);
    worker.Drain(Millis(1'000));
    if (server) server->Stop();
    service.Stop();
  }
  fs::remove_all(dir);
  return figures;
}

double Ms(nanoseconds d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

int main() {
  const Figures local = Measure(false);
  const Figures remote = Measure(true);
  const Figures local_per_task = Measure(false, false);
  const Figures remote_per_task = Measure(true, false);
  bench::BenchReport report("worker_protocol_bench");
  report.Add("remote_tasks_per_s", remote.tasks_per_s, "tasks/s", local.tasks_per_s);
  // A batch's reports together (one exchange per batch) against one report per task.
  report.Add("remote_tasks_per_s_batch_vs_per_task", remote.tasks_per_s, "tasks/s",
             remote_per_task.tasks_per_s);
  report.Add("local_tasks_per_s_batch_vs_per_task", local.tasks_per_s, "tasks/s",
             local_per_task.tasks_per_s);
  report.Add("remote_enqueue_to_start_p50", Ms(remote.start_p50), "ms", Ms(local.start_p50));
  report.Add("remote_enqueue_to_start_p99", Ms(remote.start_p99), "ms", Ms(local.start_p99));
  report.Add("remote_enqueue_to_start_p99_vs_target", Ms(remote.start_p99), "ms", 2.0);
  report.Print();
  return 0;
}
