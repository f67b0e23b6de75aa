// What the two webhook benchmarks (webhook_bench on the SQLite outbox, webhook_redis_bench on the
// Redis one) share: the tasks they complete, the dispatcher's settings and the figures' helpers.
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_report.h"

#include "common/id.h"
#include "store/task_store.h"
#include "webhook/dispatcher.h"
#include "webhook/webhook_receiver.h"

namespace stipple::bench {

// A request whose webhook (at `url`) asks for the completion.
inline GenerationRequest WebhookRequest(const std::string& url) {
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

// Enqueues, leases and completes `n` such tasks in `store` (batches of 256); returns their ids.
inline std::vector<std::string> CompleteWebhookTasks(TaskStore& store, const std::string& url,
                                                     int n) {
  std::vector<std::string> ids;
  while (static_cast<int>(ids.size()) < n) {
    const int batch = std::min(256, n - static_cast<int>(ids.size()));
    for (int i = 0; i < batch; ++i) {
      NewTask t{NewId("tsk"), "bench", WebhookRequest(url)};
      (void)store.Enqueue(t);
    }
    auto leased = store.Lease({.worker_id = "w", .models = {"shapes-32"}, .max_tasks = batch});
    std::vector<Completion> done;
    for (const auto& l : *leased) {
      done.push_back(Completion{l.task.id, l.task.fencing, {}, SystemClock::Get()->Now()});
      ids.push_back(l.task.id);
    }
    (void)store.Complete(done);
  }
  return ids;
}

inline webhook::WebhookDispatcherOptions BenchDispatcherOptions() {
  webhook::WebhookDispatcherOptions o;
  o.secrets = {webhook::GenerateSecret()};
  o.allow_private = true;  // the receiver is on loopback
  o.max_concurrency = 256;
  o.max_per_host = 64;
  return o;
}

// CPU seconds this process has used (every thread).
inline double ProcessCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// The task id in a delivery's body ({"data": {"id": "tsk_..."}}); "" when there is none.
inline std::string TaskIdOfDelivery(const std::string& body) {
  const size_t at = body.find("\"id\":\"tsk_");
  return at == std::string::npos ? "" : body.substr(at + 6, 30);
}

// Completes `samples` tasks one at a time, 5 ms apart (`complete_one` completes one and returns
// its id), with a dispatcher running, and adds completion_to_delivery_p50/p99 to `report`: from
// each completion to `receiver` having its delivery.
template <typename CompleteOne>
void AddCompletionToDelivery(BenchReport& report, webhook::WebhookReceiver& receiver, int samples,
                             CompleteOne complete_one) {
  std::map<std::string, std::chrono::steady_clock::time_point> completed;
  for (int i = 0; i < samples; ++i) {
    const std::string id = complete_one();
    completed[id] = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  receiver.WaitFor(samples, std::chrono::minutes(2));
  std::vector<std::chrono::nanoseconds> delays;
  for (const auto& r : receiver.requests()) {
    auto it = completed.find(TaskIdOfDelivery(r.body));
    if (it != completed.end()) delays.push_back(r.arrived - it->second);
  }
  if (delays.empty()) return;
  auto ms = [](std::chrono::nanoseconds d) {
    return std::chrono::duration<double, std::milli>(d).count();
  };
  report.Add("completion_to_delivery_p50", ms(P50(delays)), "ms");
  report.Add("completion_to_delivery_p99", ms(P99(delays)), "ms");
}

}  // namespace stipple::bench
