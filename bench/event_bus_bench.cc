// Task events across gateways: RedisEventBus against the in-process InMemoryEventBus.
//  - publish→deliver latency: a publisher on one bus, an all-task subscriber on another bus of
//    the same Redis (two gateways), one event in flight at a time (closed loop); p50/p99.
//  - publish throughput: 8 threads publish the queued and started events of their own tasks as
//    fast as Publish returns (state events: no bus drops those for a slow subscriber); events/s,
//    and the rate until the subscriber on the other bus has them all.
// The in-memory figures (one process, no Redis) are the baseline of each ratio. Redis runs
// locally (appendfsync everysec, the recommended setting).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "bench/bench_report.h"
#include "common/id.h"
#include "notify/in_memory_event_bus.h"
#include "notify/redis/redis_event_bus.h"
#include "store/redis/testing/redis_test_server.h"

namespace {

using namespace stipple;
using Clock = std::chrono::steady_clock;
using std::chrono::nanoseconds;

constexpr int kLatencyEvents = 3000;
constexpr int kThreads = 8;
constexpr int kEventsPerThread = 3000;

struct Counter {
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<int64_t> n{0};
  std::atomic<int64_t> target{0};
  void Add() {
    if (++n >= target) {
      std::lock_guard lock(mu);
      cv.notify_all();
    }
  }
  bool WaitFor(int64_t t) {
    target = t;
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(60), [&] { return n >= t; });
  }
};

TaskEvent Event(const std::string& task_id, TaskEventType type, uint64_t fencing) {
  TaskEvent e;
  e.task_id = task_id;
  e.type = type;
  e.time = SystemClock::Get()->Now();
  e.fencing = fencing;
  e.attempt = type == TaskEventType::kStarted ? 1 : 0;
  if (type == TaskEventType::kProgress) e.progress = TaskProgress{1, 20};
  return e;
}

// Closed loop: publish on `from`, wait until the subscriber on `to` has it.
std::vector<nanoseconds> Latencies(EventBus& from, EventBus& to) {
  Counter got;
  auto sub = to.SubscribeAll("", [&](const TaskEvent&) { got.Add(); });
  std::vector<nanoseconds> samples;
  for (int i = 0; i < kLatencyEvents; ++i) {
    const auto start = Clock::now();
    from.Publish("bench", Event(NewId("tsk"), TaskEventType::kQueued, 0));
    if (!got.WaitFor(i + 1)) break;
    samples.push_back(Clock::now() - start);
  }
  return samples;
}

struct Throughput {
  double published_per_s = 0;  // Publish calls returned per second
  double delivered_per_s = 0;  // until the subscriber on the other bus had them all
};

Throughput Flood(EventBus& from, EventBus& to) {
  Counter got;
  auto sub = to.SubscribeAll("", [&](const TaskEvent&) { got.Add(); });
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      std::string id;
      for (int i = 0; i < kEventsPerThread; ++i) {
        if (i % 2 == 0) id = NewId("tsk");
        from.Publish("bench",
                     Event(id, i % 2 == 0 ? TaskEventType::kQueued : TaskEventType::kStarted, 7));
      }
    });
  }
  for (auto& t : threads) t.join();
  const double published = std::chrono::duration<double>(Clock::now() - start).count();
  got.WaitFor(int64_t{kThreads} * kEventsPerThread);
  const double delivered = std::chrono::duration<double>(Clock::now() - start).count();
  const double n = double{kThreads} * kEventsPerThread;
  return {n / published, n / delivered};
}

double Us(nanoseconds d) { return std::chrono::duration<double, std::micro>(d).count(); }

}  // namespace

int main() {
  auto server = redis::RedisTestServer::Start({.appendfsync = "everysec"});
  if (!server.ok()) {
    std::fprintf(stderr, "cannot start redis-server: %s\n", server.status().ToString().c_str());
    return 1;
  }
  redis::RedisClientOptions client{.url = *redis::ParseRedisUrl((*server)->url())};
  RedisEventBus a(client), b(client);
  if (!a.WaitConnected(std::chrono::seconds(10)) || !b.WaitConnected(std::chrono::seconds(10))) {
    std::fprintf(stderr, "event listeners did not connect\n");
    return 1;
  }
  InMemoryEventBus local;

  bench::BenchReport report("event_bus_bench");
  std::vector<nanoseconds> mem = Latencies(local, local);
  std::vector<nanoseconds> red = Latencies(b, a);
  report.Add("deliver_p50_in_memory", Us(bench::P50(mem)), "us");
  report.Add("deliver_p99_in_memory", Us(bench::P99(mem)), "us");
  report.Add("deliver_p50_redis_across_buses", Us(bench::P50(red)), "us", Us(bench::P50(mem)));
  report.Add("deliver_p99_redis_across_buses", Us(bench::P99(red)), "us", Us(bench::P99(mem)));
  report.Add("deliver_p99_redis_target_1ms", Us(bench::P99(red)), "us", 1000);

  Throughput tm = Flood(local, local);
  Throughput tr = Flood(b, a);
  report.Add("publish_in_memory", tm.published_per_s, "events/s");
  report.Add("publish_redis", tr.published_per_s, "events/s", tm.published_per_s);
  report.Add("delivered_in_memory", tm.delivered_per_s, "events/s");
  report.Add("delivered_redis_across_buses", tr.delivered_per_s, "events/s", tm.delivered_per_s);
  report.Print();
  return 0;
}
