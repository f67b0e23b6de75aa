// The Redis task store against the SQLite one, side by side on this machine: enqueue → lease →
// complete transitions per second (many producers, one consumer leasing batches), and the
// latency of one enqueue, for
//  - RedisTaskStore on a local redis-server (started by the benchmark, in a temp dir) with
//    appendonly yes and appendfsync everysec (the recommended setting) and always;
//  - SqliteTaskStore (group commit, synchronous=FULL) in a temp dir on the same disk: the baseline.
// Each store is durable as its setting says (see docs/redis.md): the figures compare what each
// costs, not equal guarantees.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "bench/bench_report.h"
#include "common/id.h"
#include "store/redis/redis_task_store.h"
#include "store/redis/testing/redis_test_server.h"
#include "store/sqlite/sqlite_task_store.h"

namespace stipple {
namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::nanoseconds;

constexpr int kProducers = 16;
constexpr Millis kDuration{3000};

NewTask MakeTask() {
  NewTask t;
  t.id = NewId("tsk");
  t.tenant = "bench";
  t.request.prompt = "a big red circle on the left";
  t.request.model = "shapes-32";
  t.request.width = t.request.height = 32;
  t.request.steps = 20;
  t.request.guidance_scale = 4.0;
  t.request.scheduler = "ddim";
  t.request.seed = 42;
  t.request_fingerprint = "f";
  return t;
}

struct Figures {
  double transitions_per_s = 0;
  double enqueues_per_s = 0;
  double completions_per_s = 0;
  nanoseconds enqueue_p50{0}, enqueue_p99{0};
};

[[noreturn]] void Die(const Status& s) {
  std::fprintf(stderr, "redis_store_bench: %s\n", s.ToString().c_str());
  std::exit(1);
}

Figures Measure(TaskStore& store) {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> enqueued{0}, leased{0}, completed{0};
  std::mutex mu;
  std::vector<nanoseconds> latencies;
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&] {
      std::vector<nanoseconds> mine;
      while (!stop.load(std::memory_order_relaxed)) {
        NewTask t = MakeTask();
        auto start = SteadyClock::now();
        if (auto r = store.Enqueue(t); !r.ok()) Die(r.status());
        mine.push_back(SteadyClock::now() - start);
        enqueued.fetch_add(1, std::memory_order_relaxed);
      }
      std::lock_guard<std::mutex> lock(mu);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  std::thread consumer([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      auto batch = store.Lease({.worker_id = "bench",
                                .models = {"shapes-32"},
                                .max_tasks = 64,
                                .lease_duration = Millis(60'000),
                                .wait = Millis(20)});
      if (!batch.ok()) Die(batch.status());
      leased += static_cast<int64_t>(batch->size());
      std::vector<Completion> done;
      for (const LeasedTask& l : *batch) {
        done.push_back({l.task.id,
                        l.task.fencing,
                        {TaskOutput{.width = 32, .height = 32}},
                        SystemClock::Get()->Now()});
      }
      for (const auto& r : store.Complete(std::span<const Completion>(done))) {
        if (!r.ok()) Die(r.status());
      }
      completed += static_cast<int64_t>(done.size());
    }
  });
  auto start = SteadyClock::now();
  std::this_thread::sleep_for(kDuration);
  int64_t e = enqueued, l = leased, c = completed;
  double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  stop = true;
  for (auto& t : producers) t.join();
  consumer.join();
  Figures f;
  f.transitions_per_s = static_cast<double>(e + l + c) / seconds;
  f.enqueues_per_s = static_cast<double>(e) / seconds;
  f.completions_per_s = static_cast<double>(c) / seconds;
  f.enqueue_p50 = bench::P50(latencies);
  f.enqueue_p99 = bench::P99(latencies);
  return f;
}

Figures MeasureRedis(const std::string& appendfsync) {
  auto server = redis::RedisTestServer::Start({.appendfsync = appendfsync});
  if (!server.ok()) Die(server.status());
  auto store = RedisTaskStore::Open({.url = (*server)->url()});
  if (!store.ok()) Die(store.status());
  return Measure(**store);
}

Figures MeasureSqlite(const std::filesystem::path& dir) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto store = SqliteTaskStore::Open({.path = (dir / "tasks.db").string()});
  if (!store.ok()) Die(store.status());
  Figures f = Measure(**store);
  store->reset();
  std::filesystem::remove_all(dir);
  return f;
}

double Micros(nanoseconds d) { return std::chrono::duration<double, std::micro>(d).count(); }

}  // namespace
}  // namespace stipple

int main() {
  using namespace stipple;  // NOLINT(google-build-using-namespace): a benchmark's main
  auto dir = std::filesystem::temp_directory_path() / ("stipple-redis-bench-" + NewId("tmp"));
  std::printf(
      "redis_store_bench: RedisTaskStore on a local redis-server (appendonly yes) vs "
      "SqliteTaskStore (group commit, synchronous=FULL) in %s; %d producer threads, 1 consumer "
      "leasing up to 64 at a time, %lld ms each\n",
      dir.c_str(), kProducers, static_cast<long long>(kDuration.count()));
  Figures sqlite = MeasureSqlite(dir);
  Figures everysec = MeasureRedis("everysec");
  Figures always = MeasureRedis("always");

  bench::BenchReport report("redis_store_bench");
  report.Add("redis_everysec_transitions_per_s", everysec.transitions_per_s, "transitions/s",
             sqlite.transitions_per_s);
  report.Add("redis_always_transitions_per_s", always.transitions_per_s, "transitions/s",
             sqlite.transitions_per_s);
  report.Add("redis_everysec_enqueues_per_s", everysec.enqueues_per_s, "enqueues/s",
             sqlite.enqueues_per_s);
  report.Add("redis_everysec_completions_per_s", everysec.completions_per_s, "completions/s",
             sqlite.completions_per_s);
  report.Add("redis_everysec_enqueue_p50", Micros(everysec.enqueue_p50), "us",
             Micros(sqlite.enqueue_p50));
  report.Add("redis_everysec_enqueue_p99", Micros(everysec.enqueue_p99), "us",
             Micros(sqlite.enqueue_p99));
  report.Add("redis_always_enqueue_p50", Micros(always.enqueue_p50), "us",
             Micros(sqlite.enqueue_p50));
  report.Print();
  return 0;
}
