// The distributed mode's task service against the embedded one, in the same run: a
// ServiceStack over
//  - Redis: RedisTaskStore, RedisResultStore and RedisEventBus on one local redis-server
//    (started by the benchmark in a temp dir, appendonly yes + appendfsync everysec: the
//    production setting of docs/redis.conf.example): what `stipple gateway --store redis://`
//    runs, and
//  - SQLite (the baseline): SqliteTaskStore (group commit, synchronous=FULL), FsResultStore
//    (fsync) in a temp dir on the same disk and the in-memory event bus: what `stipple serve`
//    runs by default.
// Both with a queue limit that is checked on every submit (as `stipple serve` does) but never
// reached.
//
// Figures, each for Redis with SQLite as its baseline:
//  - submit throughput: kSubmitters threads calling TaskService::Submit for kSubmitDuration, no
//    worker; submits/s and the latency of one Submit (p50, p99);
//  - end-to-end tasks/s: kE2eTasks submitted by kSubmitters threads while kWorkers in-process
//    Workers (max_batch 8) lease, run and complete them on a test-double engine that returns at
//    once (TestDoubleEngine, 1 step), until the last one succeeded. Target: ≥ 10,000 tasks/s.
//    With it, the Redis server's CPU time per task (INFO cpu), which bounds a deployment's
//    throughput whatever the number of gateways; and both again on Redis with 20 steps per task
//    (the shipped model's default: 20 progress events per task on the event bus);
//  - enqueue → start with an idle worker: from Submit's return to the test-double engine's
//    Generate starting, one task at a time, kLatencyTasks times, the worker waiting in its lease
//    between them. Target: p99 ≤ 2 ms;
//  - Redis memory per task (no baseline): used_memory after kMemoryTasks submits, and after
//    they all succeeded (with their small test-double outputs), over the empty server's.
// The load average is printed before and after: on a shared machine it says how far to trust a
// figure.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_report.h"
#include "bench/per_task_reports.h"
#include "common/id.h"
#include "notify/in_memory_event_bus.h"
#include "notify/redis/redis_event_bus.h"
#include "results/fs_result_store.h"
#include "results/redis/redis_result_store.h"
#include "service/service_stack.h"
#include "store/redis/redis_scripts.h"
#include "store/redis/redis_task_store.h"
#include "store/redis/testing/redis_test_server.h"
#include "store/sqlite/sqlite_task_store.h"
#include "worker/testing/worker_test_doubles.h"
#include "worker/worker.h"

namespace stipple {
namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::nanoseconds;

constexpr int kSubmitters = 16;
constexpr Millis kSubmitDuration{3000};
constexpr int kE2eTasks = 4000;
constexpr int kWorkers = 2;
constexpr int kLatencyTasks = 300;

[[noreturn]] void Die(const Status& s) {
  std::fprintf(stderr, "redis_service_bench: %s\n", s.ToString().c_str());
  std::exit(1);
}

template <typename T>
T Must(Result<T> r) {
  if (!r.ok()) Die(r.status());
  return std::move(r).value();
}

// One deployment's stores and event bus, fresh for each measurement.
struct Backend {
  std::unique_ptr<redis::RedisTestServer> redis;  // Redis mode only
  std::unique_ptr<TaskStore> store;
  std::unique_ptr<ResultStore> results;
  std::unique_ptr<EventBus> bus;
  fs::path dir;  // SQLite mode only
  ~Backend() {
    bus.reset();
    store.reset();
    results.reset();
    if (!dir.empty()) fs::remove_all(dir);
  }
};

// As `stipple serve` / `stipple gateway` open them (apps/stipple/serve.cc).
std::unique_ptr<Backend> OpenBackend(bool on_redis) {
  auto b = std::make_unique<Backend>();
  if (on_redis) {
    b->redis = Must(redis::RedisTestServer::Start({.appendfsync = "everysec"}));
    b->store = Must(RedisTaskStore::Open({.url = b->redis->url()}));
    b->results = Must(RedisResultStore::Open({.url = b->redis->url()}));
    auto bus = std::make_unique<RedisEventBus>(
        redis::RedisClientOptions{.url = Must(redis::ParseRedisUrl(b->redis->url()))});
    if (!bus->WaitConnected(Millis(10'000))) Die(UnavailableError("the event bus did not connect"));
    b->bus = std::move(bus);
  } else {
    b->dir = fs::temp_directory_path() / ("stipple-service-bench-" + NewId("tmp"));
    fs::create_directories(b->dir);
    b->store = Must(SqliteTaskStore::Open({.path = (b->dir / "tasks.db").string()}));
    b->results = Must(FsResultStore::Open({.dir = (b->dir / "outputs").string()}));
    b->bus = std::make_unique<InMemoryEventBus>();
  }
  return b;
}

NewTask MakeTask(int i, int steps = 1) {
  NewTask t;
  t.id = NewId("tsk");
  t.tenant = "bench";
  t.request.prompt = "a big red circle on the left " + std::to_string(i);
  t.request.model = "test-model";
  t.request.width = 8;
  t.request.height = 8;
  t.request.steps = steps;
  t.request.guidance_scale = 4;
  t.request.scheduler = "ddim";
  t.request.seed = static_cast<uint32_t>(i);
  t.request_fingerprint = "f";
  return t;
}

ServiceOptions BenchServiceOptions() {
  ServiceOptions o;
  o.max_queue = 100'000'000;  // counted on every submit, as in `stipple serve`, never reached
  return o;
}

WorkerOptions BenchWorkerOptions(int max_batch) {
  WorkerOptions o;
  o.max_batch = max_batch;
  o.batch_window = Millis(0);
  o.preview_every = 0;
  o.lease_wait = Millis(2'000);
  return o;
}

// Counts succeeded events of the service, for waiting without polling the store.
class SuccessCounter {
 public:
  explicit SuccessCounter(ServiceStack& service)
      : sub_(service.tasks().SubscribeAll("", [this](const TaskEvent& e) {
          if (e.type != TaskEventType::kSucceeded) return;
          std::lock_guard lock(mu_);
          ++count_;
          cv_.notify_all();
        })) {}
  ~SuccessCounter() { sub_.reset(); }
  void WaitFor(int n) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::minutes(5), [&] { return count_ >= n; })) {
      Die(DeadlineExceededError("tasks did not succeed within 5 minutes"));
    }
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int count_ = 0;  // GUARDED_BY(mu_)
  std::unique_ptr<Subscription> sub_;
};

struct SubmitFigures {
  double submits_per_s = 0;
  nanoseconds p50{}, p99{};
};

SubmitFigures MeasureSubmit(bool on_redis) {
  auto backend = OpenBackend(on_redis);
  ServiceStack service(*backend->store, *backend->bus, *backend->results, BenchServiceOptions());
  std::atomic<bool> stop{false};
  std::atomic<int64_t> submitted{0};
  std::mutex mu;
  std::vector<nanoseconds> latencies;
  std::vector<std::thread> threads;
  const auto start = SteadyClock::now();
  for (int s = 0; s < kSubmitters; ++s) {
    threads.emplace_back([&, s] {
      std::vector<nanoseconds> mine;
      for (int i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        NewTask t = MakeTask(s * 1'000'000 + i);
        const auto t0 = SteadyClock::now();
        if (auto r = service.tasks().Submit(t); !r.ok()) Die(r.status());
        mine.push_back(SteadyClock::now() - t0);
        submitted.fetch_add(1, std::memory_order_relaxed);
      }
      std::lock_guard lock(mu);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  std::this_thread::sleep_for(kSubmitDuration);
  const int64_t n = submitted.load();
  const double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  stop = true;
  for (auto& t : threads) t.join();
  service.Stop();
  return {static_cast<double>(n) / seconds, bench::P50(latencies), bench::P99(latencies)};
}

// Profiling aids: every command the Redis server runs goes to its slow log, and afterwards the
// server's time per kind of call (a script by its name) is printed.
void StartCommandLog(const Backend& backend) {
  if (!backend.redis) return;
  redis::RedisClient client({.url = Must(redis::ParseRedisUrl(backend.redis->url()))});
  (void)Must(client.Command({"CONFIG", "SET", "slowlog-max-len", "1000000"}));
  (void)Must(client.Command({"CONFIG", "SET", "slowlog-log-slower-than", "0"}));
}

void PrintCommandLog(const Backend& backend) {
  if (!backend.redis) return;
  redis::RedisClient client({.url = Must(redis::ParseRedisUrl(backend.redis->url()))});
  const std::map<std::string, std::string> names = {
      {redis::scripts::Enqueue().sha1(), "enqueue script"},
      {redis::scripts::Lease().sha1(), "lease script"},
      {redis::scripts::Save().sha1(), "save script"},
      {redis::scripts::SaveBatch().sha1(), "save batch script"},
      {redis::scripts::Get().sha1(), "get script"},
      {redis::scripts::Counts().sha1(), "counts script"},
      {redis::scripts::Housekeeping().sha1(), "housekeeping script"}};
  redis::Reply log = Must(client.Command({"SLOWLOG", "GET", "-1"}));
  std::map<std::string, std::pair<int64_t, int64_t>> by_kind;  // calls, µs
  for (size_t i = 0; i < log->elements; ++i) {
    const redisReply& entry = *log->element[i];
    if (entry.elements < 4 || entry.element[3]->elements < 1) continue;
    const redisReply& args = *entry.element[3];
    std::string kind = redis::ReplyString(*args.element[0]);
    if (kind == "EVALSHA" && args.elements > 1) {
      auto it = names.find(redis::ReplyString(*args.element[1]));
      kind = it == names.end() ? "other script" : it->second;
    }
    by_kind[kind].first += 1;
    by_kind[kind].second += redis::ReplyInt(*entry.element[2]);
  }
  for (const auto& [kind, v] : by_kind) {
    std::printf("  %-20s %8lld calls %10lld us  %7.1f us/call\n", kind.c_str(),
                static_cast<long long>(v.first), static_cast<long long>(v.second),
                static_cast<double>(v.second) / static_cast<double>(v.first));
  }
}

// CPU time the Redis server has used so far (INFO cpu: user + system, every thread), in s.
double RedisCpuSeconds(const Backend& backend) {
  redis::RedisClient client({.url = Must(redis::ParseRedisUrl(backend.redis->url()))});
  const std::string info = redis::ReplyString(*Must(client.Command({"INFO", "cpu"})));
  double total = 0;
  for (const char* field : {"used_cpu_sys:", "used_cpu_user:"}) {
    const size_t at = info.find(field);
    if (at != std::string::npos) total += std::stod(info.substr(at + std::strlen(field)));
  }
  return total;
}

struct EndToEndFigures {
  double tasks_per_s = 0;
  double redis_cpu_us_per_task = 0;  // Redis mode only
};

// `steps`: denoising steps per task; the worker reports progress after each, and each report is
// an event on the bus (a Redis script call with the Redis event bus). `batched` false: the
// baseline of the batch path (bench/per_task_reports.h) — each task of a batch completed, its
// images stored and its progress published on its own.
EndToEndFigures MeasureEndToEnd(bool on_redis, bool print_stats = false, int steps = 1,
                                int tasks = kE2eTasks, bool batched = true) {
  auto backend = OpenBackend(on_redis);
  bench::PerRecordResultStore per_record(*backend->results);
  ResultStore& results = batched ? *backend->results : per_record;
  ServiceStack service(*backend->store, *backend->bus, results, BenchServiceOptions());
  bench::PerTaskWorkSource per_task(service.work());
  WorkSource* source = batched ? &service.work() : &per_task;
  if (print_stats) StartCommandLog(*backend);
  std::vector<std::unique_ptr<TestDoubleEngine>> engines;
  std::vector<std::unique_ptr<Worker>> workers;
  for (int w = 0; w < kWorkers; ++w) {
    engines.push_back(
        std::make_unique<TestDoubleEngine>(TestDoubleEngineOptions{.preview_every = 0}));
    workers.push_back(std::make_unique<Worker>(source, std::vector<Engine*>{engines.back().get()},
                                               BenchWorkerOptions(8)));
    if (Status st = workers.back()->Start(); !st.ok()) Die(st);
  }
  EndToEndFigures f;
  {
    SuccessCounter succeeded(service);
    const double cpu_before = on_redis ? RedisCpuSeconds(*backend) : 0;
    const auto start = SteadyClock::now();
    std::vector<std::thread> threads;
    for (int s = 0; s < kSubmitters; ++s) {
      threads.emplace_back([&, s] {
        for (int i = s; i < tasks; i += kSubmitters) {
          if (auto r = service.tasks().Submit(MakeTask(i, steps)); !r.ok()) Die(r.status());
        }
      });
    }
    for (auto& t : threads) t.join();
    succeeded.WaitFor(tasks);
    f.tasks_per_s = tasks / std::chrono::duration<double>(SteadyClock::now() - start).count();
    if (on_redis) f.redis_cpu_us_per_task = (RedisCpuSeconds(*backend) - cpu_before) * 1e6 / tasks;
  }
  for (auto& w : workers) w->Drain(Millis(1'000));
  workers.clear();
  service.Stop();
  if (print_stats) PrintCommandLog(*backend);
  return f;
}

struct LatencyFigures {
  nanoseconds p50{}, p99{};
};

LatencyFigures MeasureEnqueueToStart(bool on_redis) {
  auto backend = OpenBackend(on_redis);
  ServiceStack service(*backend->store, *backend->bus, *backend->results, BenchServiceOptions());
  TestDoubleEngine engine({.preview_every = 0});
  std::vector<nanoseconds> latencies;
  {
    Worker worker(&service.work(), {&engine}, BenchWorkerOptions(4));
    if (Status st = worker.Start(); !st.ok()) Die(st);
    SuccessCounter succeeded(service);
    for (int i = 0; i < kLatencyTasks; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // back to its waiting lease
      if (auto r = service.tasks().Submit(MakeTask(i)); !r.ok()) Die(r.status());
      const auto enqueued = SteadyClock::now();
      succeeded.WaitFor(i + 1);
      std::vector<TestDoubleEngine::Call> calls = engine.calls();
      if (calls.size() != static_cast<size_t>(i + 1)) Die(InternalError("one call per task"));
      latencies.push_back(std::max(nanoseconds(0), calls.back().start - enqueued));
    }
    worker.Drain(Millis(1'000));
  }
  service.Stop();
  return {bench::P50(latencies), bench::P99(latencies)};
}

// Redis memory per task (INFO memory's used_memory): kMemoryTasks submitted (queued), then all
// run by a worker on the test-double engine (succeeded, each with its one small output kept in
// Redis too). Differences against the empty server, divided by the task count.
struct MemoryFigures {
  double bytes_per_queued = 0;
  double bytes_per_succeeded = 0;
};
constexpr int kMemoryTasks = 10'000;

int64_t UsedMemory(const Backend& backend) {
  redis::RedisClient client({.url = Must(redis::ParseRedisUrl(backend.redis->url()))});
  const std::string info = redis::ReplyString(*Must(client.Command({"INFO", "memory"})));
  const size_t at = info.find("used_memory:");
  return at == std::string::npos ? 0 : std::stoll(info.substr(at + 12));
}

MemoryFigures MeasureRedisMemory() {
  auto backend = OpenBackend(true);
  ServiceStack service(*backend->store, *backend->bus, *backend->results, BenchServiceOptions());
  const int64_t empty = UsedMemory(*backend);
  for (int i = 0; i < kMemoryTasks; ++i) {
    if (auto r = service.tasks().Submit(MakeTask(i)); !r.ok()) Die(r.status());
  }
  MemoryFigures f;
  f.bytes_per_queued = static_cast<double>(UsedMemory(*backend) - empty) / kMemoryTasks;
  TestDoubleEngine engine({.preview_every = 0});
  {
    SuccessCounter succeeded(service);
    Worker worker(&service.work(), {&engine}, BenchWorkerOptions(8));
    if (Status st = worker.Start(); !st.ok()) Die(st);
    succeeded.WaitFor(kMemoryTasks);
    worker.Drain(Millis(1'000));
  }
  f.bytes_per_succeeded = static_cast<double>(UsedMemory(*backend) - empty) / kMemoryTasks;
  service.Stop();
  return f;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

double Micros(nanoseconds d) { return std::chrono::duration<double, std::micro>(d).count(); }
double Ms(nanoseconds d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace
}  // namespace stipple

// With an argument (submit, e2e or latency), runs only that measurement, on Redis only, and
// prints its figure: for profiling one path (perf record -g). e2e-calls also prints the Redis
// server's time per kind of call (from its slow log, which itself slows the run down).
int ProfileOne(const std::string& which) {
  using namespace stipple;  // NOLINT(google-build-using-namespace): a benchmark's main
  if (which == "submit") {
    std::printf("redis submits/s: %.0f\n", MeasureSubmit(true).submits_per_s);
  } else if (which == "e2e" || which == "e2e-calls") {
    EndToEndFigures f = MeasureEndToEnd(true, which == "e2e-calls");
    std::printf("redis end-to-end tasks/s: %.0f, Redis CPU per task %.0f us\n", f.tasks_per_s,
                f.redis_cpu_us_per_task);
  } else if (which == "batch") {
    // The batch path against the per-task one, end to end, alternating twice.
    for (int round = 0; round < 2; ++round) {
      for (bool on_redis : {false, true}) {
        for (int steps : {1, 20}) {
          if (!on_redis && steps == 20) continue;
          const int tasks = steps == 1 ? kE2eTasks : kE2eTasks / 2;
          EndToEndFigures per = MeasureEndToEnd(on_redis, false, steps, tasks, false);
          EndToEndFigures bat = MeasureEndToEnd(on_redis, false, steps, tasks, true);
          std::printf(
              "%s %2d step(s): per-task %6.0f tasks/s (Redis CPU %5.0f us/task), batch %6.0f "
              "tasks/s (Redis CPU %5.0f us/task)\n",
              on_redis ? "redis " : "sqlite", steps, per.tasks_per_s, per.redis_cpu_us_per_task,
              bat.tasks_per_s, bat.redis_cpu_us_per_task);
        }
      }
    }
  } else if (which == "latency") {
    LatencyFigures f = MeasureEnqueueToStart(true);
    std::printf("redis enqueue -> start p50 %.3f ms, p99 %.3f ms\n", Ms(f.p50), Ms(f.p99));
  } else if (which == "memory") {
    MemoryFigures f = MeasureRedisMemory();
    std::printf("redis bytes per queued task %.0f, per succeeded task %.0f\n", f.bytes_per_queued,
                f.bytes_per_succeeded);
  } else {
    std::fprintf(stderr,
                 "usage: redis_service_bench [submit|e2e|e2e-calls|batch|latency|memory]\n");
    return 2;
  }
  return 0;
}

int main(int argc, char** argv) {
  using namespace stipple;  // NOLINT(google-build-using-namespace): a benchmark's main
  if (argc > 1) return ProfileOne(argv[1]);
  std::printf(
      "redis_service_bench: the ServiceStack on Redis (local redis-server, appendfsync everysec; "
      "task store, result store, event bus) vs on SQLite + files (synchronous=FULL, fsync) + "
      "in-memory events; %d submitters; "
      "%d in-process workers on a test-double engine; load average before: %s\n",
      kSubmitters, kWorkers, LoadAverage().c_str());
  const SubmitFigures submit_sqlite = MeasureSubmit(false);
  const SubmitFigures submit_redis = MeasureSubmit(true);
  const EndToEndFigures e2e_sqlite = MeasureEndToEnd(false);
  const EndToEndFigures e2e_redis = MeasureEndToEnd(true);
  const EndToEndFigures e2e_redis_20 = MeasureEndToEnd(true, false, 20, kE2eTasks / 2);
  const EndToEndFigures e2e_sqlite_per_task = MeasureEndToEnd(false, false, 1, kE2eTasks, false);
  const EndToEndFigures e2e_redis_per_task = MeasureEndToEnd(true, false, 1, kE2eTasks, false);
  const EndToEndFigures e2e_redis_20_per_task =
      MeasureEndToEnd(true, false, 20, kE2eTasks / 2, false);
  const LatencyFigures start_sqlite = MeasureEnqueueToStart(false);
  const LatencyFigures start_redis = MeasureEnqueueToStart(true);
  const MemoryFigures memory = MeasureRedisMemory();
  std::printf("redis_service_bench: load average after: %s\n", LoadAverage().c_str());

  bench::BenchReport report("redis_service_bench");
  report.Add("redis_submits_per_s", submit_redis.submits_per_s, "submits/s",
             submit_sqlite.submits_per_s);
  report.Add("redis_submit_p50", Micros(submit_redis.p50), "us", Micros(submit_sqlite.p50));
  report.Add("redis_submit_p99", Micros(submit_redis.p99), "us", Micros(submit_sqlite.p99));
  report.Add("redis_e2e_tasks_per_s", e2e_redis.tasks_per_s, "tasks/s", e2e_sqlite.tasks_per_s);
  report.Add("redis_e2e_tasks_per_s_vs_target", e2e_redis.tasks_per_s, "tasks/s", 10'000);
  report.Add("sqlite_e2e_tasks_per_s_vs_target", e2e_sqlite.tasks_per_s, "tasks/s", 10'000);
  report.Add("redis_server_cpu_per_task", e2e_redis.redis_cpu_us_per_task, "us");
  report.Add("redis_e2e_tasks_per_s_20_steps", e2e_redis_20.tasks_per_s, "tasks/s");
  report.Add("redis_server_cpu_per_task_20_steps", e2e_redis_20.redis_cpu_us_per_task, "us");
  // The batch path (one PutBatch, one store write, one publication per step) against each task
  // of a batch reported on its own, in the same run.
  report.Add("sqlite_e2e_batch_vs_per_task", e2e_sqlite.tasks_per_s, "tasks/s",
             e2e_sqlite_per_task.tasks_per_s);
  report.Add("redis_e2e_batch_vs_per_task", e2e_redis.tasks_per_s, "tasks/s",
             e2e_redis_per_task.tasks_per_s);
  report.Add("redis_server_cpu_per_task_batch_vs_per_task", e2e_redis.redis_cpu_us_per_task, "us",
             e2e_redis_per_task.redis_cpu_us_per_task);
  report.Add("redis_server_cpu_per_task_20_steps_batch_vs_per_task",
             e2e_redis_20.redis_cpu_us_per_task, "us", e2e_redis_20_per_task.redis_cpu_us_per_task);
  report.Add("redis_enqueue_to_start_p50", Ms(start_redis.p50), "ms", Ms(start_sqlite.p50));
  report.Add("redis_enqueue_to_start_p99", Ms(start_redis.p99), "ms", Ms(start_sqlite.p99));
  report.Add("redis_enqueue_to_start_p99_vs_target", Ms(start_redis.p99), "ms", 2.0);
  report.Add("sqlite_enqueue_to_start_p99_vs_target", Ms(start_sqlite.p99), "ms", 2.0);
  report.Add("redis_memory_per_queued_task", memory.bytes_per_queued, "bytes");
  report.Add("redis_memory_per_succeeded_task", memory.bytes_per_succeeded, "bytes");
  report.Print();
  return 0;
}
