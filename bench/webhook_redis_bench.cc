// Webhook delivery through the Redis outbox on this machine, to a loopback receiver (a C++ test
// double that answers 200 at once): task completions through the Redis task store (whose
// scripts write the intents), a local redis-server (appendfsync everysec), the libcurl
// dispatcher, outcomes recorded in Redis — the path of `stipple serve --store redis://…`.
//  1. deliveries/s: kBacklog completed tasks' deliveries waiting (as intents: turning them into
//     deliveries is part of the drain), drained by one dispatcher (one gateway), then by two
//     dispatchers on two outboxes sharing the Redis (two gateways); per wall-clock second and per
//     CPU-second of this process and redis-server; target 5,000/s as for the SQLite outbox
//     (webhook_bench);
//  2. the delay from an acknowledged task completion to the receiver having the request, p50 and
//     p99, completions arriving one at a time.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "bench/bench_report.h"
#include "bench/webhook_bench_support.h"
#include "common/id.h"
#include "store/redis/redis_task_store.h"
#include "store/redis/testing/redis_test_server.h"
#include "webhook/dispatcher.h"
#include "webhook/redis/redis_outbox.h"
#include "webhook/webhook_receiver.h"

namespace stipple {
namespace {

using Steady = std::chrono::steady_clock;

constexpr int kBacklog = 10'000;
constexpr int kLatencySamples = 300;

template <typename T>
T OrDie(Result<T> r) {
  if (!r.ok()) {
    std::fprintf(stderr, "webhook_redis_bench: %s\n", r.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(*r);
}

struct Rig {
  std::unique_ptr<redis::RedisTestServer> server = OrDie(redis::RedisTestServer::Start());
  std::unique_ptr<RedisTaskStore> store = OrDie(RedisTaskStore::Open({.url = server->url()}));
  webhook::WebhookReceiver receiver;
  std::string url = "http://127.0.0.1:" + std::to_string(receiver.port()) + "/hook";

  std::unique_ptr<webhook::RedisWebhookOutbox> Outbox() {
    return OrDie(webhook::RedisWebhookOutbox::Open({.url = server->url()}));
  }

  // Enqueues, leases and completes `n` tasks; returns their ids.
  std::vector<std::string> CompleteTasks(int n) {
    return bench::CompleteWebhookTasks(*store, url, n);
  }
};

// CPU seconds redis-server has used (INFO cpu).
double RedisCpuSeconds(const redis::RedisTestServer& server) {
  redis::RedisClient client({.url = *redis::ParseRedisUrl(server.url())});
  auto info = client.Command({"INFO", "cpu"});
  if (!info.ok()) return 0;
  const std::string text = redis::ReplyString(**info);
  double total = 0;
  for (const char* field : {"used_cpu_sys:", "used_cpu_user:"}) {
    const size_t at = text.find(field);
    if (at != std::string::npos) total += std::atof(text.c_str() + at + std::strlen(field));
  }
  return total;
}

struct DrainFigures {
  double per_s = 0;
  double per_cpu_s = 0;  // CPU of this process and of redis-server together
};

// Drains a backlog with `gateways` outboxes and dispatchers.
DrainFigures Drain(int gateways) {
  Rig rig;
  rig.CompleteTasks(kBacklog);
  std::vector<std::unique_ptr<webhook::RedisWebhookOutbox>> outboxes;
  std::vector<std::unique_ptr<webhook::WebhookDispatcher>> dispatchers;
  for (int i = 0; i < gateways; ++i) {
    outboxes.push_back(rig.Outbox());
    dispatchers.push_back(std::make_unique<webhook::WebhookDispatcher>(
        *outboxes.back(), bench::BenchDispatcherOptions()));
  }
  const auto start = Steady::now();
  const double cpu_start = bench::ProcessCpuSeconds() + RedisCpuSeconds(*rig.server);
  for (auto& d : dispatchers) (void)d->Start();
  rig.receiver.WaitFor(kBacklog, std::chrono::minutes(10));
  const double s = std::chrono::duration<double>(Steady::now() - start).count();
  const double cpu = bench::ProcessCpuSeconds() + RedisCpuSeconds(*rig.server) - cpu_start;
  for (auto& d : dispatchers) d->Stop();
  return {rig.receiver.count() / s, rig.receiver.count() / cpu};
}

int Run() {
  bench::BenchReport report("webhook_redis_bench");
  // On a shared machine the wall-clock rate depends on the neighbours; the rate per CPU-second
  // (sender, receiver double and redis-server together) much less.
  const DrainFigures one = Drain(1);
  report.Add("deliveries_per_s_1_gateway", one.per_s, "deliveries/s", 5000);
  report.Add("deliveries_per_cpu_s_1_gateway", one.per_cpu_s, "deliveries/cpu-s", 5000);
  const DrainFigures two = Drain(2);
  report.Add("deliveries_per_s_2_gateways", two.per_s, "deliveries/s", 5000);
  report.Add("deliveries_per_cpu_s_2_gateways", two.per_cpu_s, "deliveries/cpu-s", 5000);
  {
    Rig rig;
    auto outbox = rig.Outbox();
    webhook::WebhookDispatcher dispatcher(*outbox, bench::BenchDispatcherOptions());
    (void)dispatcher.Start();
    bench::AddCompletionToDelivery(report, rig.receiver, kLatencySamples,
                                   [&] { return rig.CompleteTasks(1).front(); });
  }
  report.Print();
  return 0;
}

}  // namespace
}  // namespace stipple

int main() { return stipple::Run(); }
