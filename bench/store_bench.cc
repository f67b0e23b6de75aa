// The SQLite task store under load, on this machine's disk:
//  1. durable transitions/s (enqueue → lease → complete; many producers, one consumer) with group
//     commit, against the naive baseline (one transaction and one fsync per transition, the same
//     SQLite and schema, the same disk), with transitions per fsync and commit latency p50/p99;
//  2. the latency from an acknowledged enqueue to the task in the hands of a consumer that was
//     already waiting in Lease.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "bench/bench_report.h"
#include "common/id.h"
#include "store/sqlite/sqlite_task_store.h"

namespace stipple {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::nanoseconds;

constexpr int kProducers = 64;      // the load for the throughput figures
constexpr int kLightProducers = 8;  // a lighter load, for commit latency below saturation

GenerationRequest Request() {
  GenerationRequest r;
  r.prompt = "a big red circle on the left";
  r.model = "shapes-32";
  r.width = r.height = 32;
  r.steps = 20;
  r.guidance_scale = 4.0;
  r.scheduler = "ddim";
  r.seed = 42;
  return r;
}

NewTask MakeTask() {
  NewTask t;
  t.id = NewId("tsk");
  t.tenant = "bench";
  t.request = Request();
  t.request_fingerprint = "f";
  return t;
}

struct ThroughputResult {
  double transitions_per_s = 0;
  double transitions_per_fsync = 0;
  nanoseconds commit_p50{0}, commit_p99{0};
  int64_t tasks_completed = 0;
};

std::unique_ptr<SqliteTaskStore> OpenStore(const std::filesystem::path& dir, bool group_commit) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto s =
      SqliteTaskStore::Open({.path = (dir / "tasks.db").string(), .group_commit = group_commit});
  if (!s.ok()) {
    std::fprintf(stderr, "open: %s\n", s.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(*s);
}

ThroughputResult MeasureThroughput(const std::filesystem::path& dir, bool group_commit,
                                   Millis duration, int producer_threads = kProducers) {
  auto store = OpenStore(dir, group_commit);
  std::atomic<bool> stop{false};
  std::atomic<int64_t> enqueued{0}, leased{0}, completed{0};
  std::mutex latency_mu;
  std::vector<nanoseconds> latencies;

  std::vector<std::thread> producers;
  for (int p = 0; p < producer_threads; ++p) {
    producers.emplace_back([&] {
      std::vector<nanoseconds> mine;
      while (!stop.load(std::memory_order_relaxed)) {
        NewTask t = MakeTask();
        auto start = Clock::now();
        if (!store->Enqueue(t).ok()) std::abort();
        mine.push_back(Clock::now() - start);
        enqueued.fetch_add(1, std::memory_order_relaxed);
      }
      std::lock_guard<std::mutex> lock(latency_mu);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  std::thread consumer([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      // The naive baseline takes one transition per transaction: one lease, one completion.
      auto batch = store->Lease({.worker_id = "bench",
                                 .models = {"shapes-32"},
                                 .max_tasks = group_commit ? 256 : 1,
                                 .lease_duration = Millis(60'000),
                                 .wait = Millis(20)});
      if (!batch.ok()) std::abort();
      leased += static_cast<int64_t>(batch->size());
      std::vector<Completion> done;
      for (const LeasedTask& l : *batch) {
        done.push_back({l.task.id,
                        l.task.fencing,
                        {TaskOutput{.width = 32, .height = 32}},
                        SystemClock::Get()->Now()});
      }
      if (done.empty()) continue;
      for (const auto& r : store->Complete(std::span<const Completion>(done))) {
        if (!r.ok()) std::abort();
      }
      completed += static_cast<int64_t>(done.size());
    }
  });

  auto stats_before = store->commit_stats();
  auto start = Clock::now();
  std::this_thread::sleep_for(duration);
  int64_t transitions = enqueued + leased + completed;
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  auto stats = store->commit_stats();
  stop = true;
  for (auto& t : producers) t.join();
  consumer.join();

  ThroughputResult r;
  r.transitions_per_s = static_cast<double>(transitions) / seconds;
  int64_t fsyncs = stats.synced_commits - stats_before.synced_commits;
  r.transitions_per_fsync =
      fsyncs > 0 ? static_cast<double>(transitions) / static_cast<double>(fsyncs) : 0;
  r.commit_p50 = bench::P50(latencies);
  r.commit_p99 = bench::P99(latencies);
  r.tasks_completed = completed;
  return r;
}

struct HandoffResult {
  nanoseconds ack_to_lease_p50{0}, ack_to_lease_p99{0};
  nanoseconds submit_to_lease_p50{0}, submit_to_lease_p99{0};
};

// One consumer waits in Lease; a producer enqueues one task at a time. Measured: from the
// producer seeing its enqueue acknowledged (and from its call) to the consumer holding the task.
// The consumer is woken by the commit itself, so it can hold the task before the producer has
// been scheduled to see its acknowledgment: such samples count as zero.
HandoffResult MeasureHandoff(const std::filesystem::path& dir, int samples) {
  auto store = OpenStore(dir, true);
  std::vector<nanoseconds> ack_to_lease, submit_to_lease;
  for (int i = 0; i < samples; ++i) {
    Clock::time_point leased_at;
    std::atomic<bool> waiting{false};
    std::thread consumer([&] {
      waiting = true;
      auto got =
          store->Lease({.worker_id = "bench", .models = {"shapes-32"}, .wait = Millis(5000)});
      leased_at = Clock::now();
      if (!got.ok() || got->size() != 1) std::abort();
    });
    while (!waiting) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::microseconds(300));  // let it block in the wait
    auto submit = Clock::now();
    if (!store->Enqueue(MakeTask()).ok()) std::abort();
    auto acked = Clock::now();
    consumer.join();
    ack_to_lease.push_back(std::max(nanoseconds(0), leased_at - acked));
    submit_to_lease.push_back(leased_at - submit);
  }
  return {bench::P50(ack_to_lease), bench::P99(ack_to_lease), bench::P50(submit_to_lease),
          bench::P99(submit_to_lease)};
}

double Micros(nanoseconds d) { return std::chrono::duration<double, std::micro>(d).count(); }
double MillisOf(nanoseconds d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace
}  // namespace stipple

int main() {
  using namespace stipple;  // NOLINT(google-build-using-namespace): a benchmark's main
  auto dir = std::filesystem::temp_directory_path() / ("stipple-store-bench-" + NewId("tmp"));
  std::printf(
      "store_bench: SqliteTaskStore in %s, synchronous=FULL, %d producer threads (%d for the "
      "light load), 1 consumer\n",
      dir.c_str(), kProducers, kLightProducers);

  ThroughputResult naive = MeasureThroughput(dir, /*group_commit=*/false, Millis(3000));
  ThroughputResult group = MeasureThroughput(dir, /*group_commit=*/true, Millis(5000));
  ThroughputResult light =
      MeasureThroughput(dir, /*group_commit=*/true, Millis(3000), kLightProducers);
  ThroughputResult naive_light =
      MeasureThroughput(dir, /*group_commit=*/false, Millis(2000), kLightProducers);
  HandoffResult handoff = MeasureHandoff(dir, 2000);
  std::filesystem::remove_all(dir);

  bench::BenchReport report("store_bench");
  report.Add("durable_transitions_per_s", group.transitions_per_s, "transitions/s",
             naive.transitions_per_s);
  report.Add("transitions_per_fsync", group.transitions_per_fsync, "transitions",
             naive.transitions_per_fsync);
  report.Add("commit_latency_p50", MillisOf(group.commit_p50), "ms", MillisOf(naive.commit_p50));
  report.Add("commit_latency_p99", MillisOf(group.commit_p99), "ms", MillisOf(naive.commit_p99));
  report.Add("light_load_transitions_per_s", light.transitions_per_s, "transitions/s",
             naive_light.transitions_per_s);
  report.Add("light_load_commit_latency_p50", MillisOf(light.commit_p50), "ms",
             MillisOf(naive_light.commit_p50));
  report.Add("light_load_commit_latency_p99", MillisOf(light.commit_p99), "ms",
             MillisOf(naive_light.commit_p99));
  report.Add("enqueue_ack_to_lease_p50", Micros(handoff.ack_to_lease_p50), "us");
  report.Add("enqueue_ack_to_lease_p99", Micros(handoff.ack_to_lease_p99), "us");
  report.Add("enqueue_call_to_lease_p50", Micros(handoff.submit_to_lease_p50), "us");
  report.Add("enqueue_call_to_lease_p99", Micros(handoff.submit_to_lease_p99), "us");
  report.Print();
  return 0;
}
