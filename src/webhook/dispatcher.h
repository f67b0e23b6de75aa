// WebhookDispatcher: delivers the outbox's deliveries with libcurl's multi interface on one
// thread of its own — connections reused, a timeout per attempt, a global and a per-host limit
// on concurrent attempts (one slow receiver holds at most its host's share), TLS verified,
// redirects not followed, and the SSRF guard applied to every address it connects to. Signs
// each attempt with every configured secret (Standard Webhooks). Retries non-2xx answers,
// timeouts and connection failures along `retry_schedule` with jitter; a 410 stops the task's
// deliveries; a forbidden address fails the delivery at once. Nothing it does blocks a worker,
// the API or a task's completion: they only write outbox rows.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "webhook/outbox.h"
#include "webhook/signing.h"

namespace stipple::webhook {

// ≈ 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: seven retries over about a day.
std::vector<Millis> DefaultRetrySchedule();

// "5,300,1800" (seconds, decimals allowed) → the schedule; kInvalidArgument otherwise.
Result<std::vector<Millis>> ParseRetrySchedule(std::string_view text);

// The wait before retry `retry` (0: the retry after the first attempt): schedule[retry] scaled by
// 1 - jitter + 2 * jitter * u, so u (uniform in [0, 1)) spreads it over
// [schedule[retry] * (1 - jitter), schedule[retry] * (1 + jitter)). nullopt once the schedule is
// exhausted (the delivery gives up).
std::optional<Millis> RetryDelay(const std::vector<Millis>& schedule, double jitter, size_t retry,
                                 double u);

struct WebhookDispatcherOptions {
  std::vector<SigningSecret> secrets;  // at least one
  bool allow_private = false;          // let attempts connect to private/loopback addresses
  std::vector<Millis> retry_schedule = DefaultRetrySchedule();  // delay before retry i
  double jitter = 0.2;          // each delay is scaled by a uniform factor in [1-jitter, 1+jitter]
  Millis timeout{10'000};       // per attempt, connect included
  int max_concurrency = 256;    // attempts in flight, all hosts
  int max_per_host = 16;        // attempts in flight to one host:port
  Millis poll_interval{1'000};  // how often the outbox is checked for due retries when idle
  const Clock* clock = SystemClock::Get();
  // Test double of the resolver: "HOST:PORT:ADDRESS" entries answered instead of DNS (libcurl's
  // CURLOPT_RESOLVE), so a test can point a name at loopback without touching the machine's
  // resolver. The connect-time guard applies to these addresses like any other. Tests only.
  std::vector<std::string> test_resolve;
  // Called on the dispatcher's thread after every attempt with "delivered", "failed" (to be
  // retried) or "gave_up" (the delivery's last attempt failed) — the /metrics counter.
  std::function<void(std::string_view result)> count_outcome;
};

struct WebhookDispatcherStats {
  int64_t delivered = 0;
  int64_t failed_attempts = 0;  // attempts that did not succeed (retried or final)
  int64_t failed = 0;           // deliveries given up (exhausted, 410, forbidden address)
};

class WebhookDispatcher {
 public:
  WebhookDispatcher(WebhookOutbox& outbox, WebhookDispatcherOptions options);
  ~WebhookDispatcher();  // Stop()

  Status Start();
  // Stops the thread; attempts in flight are abandoned (due again after the next start).
  void Stop();

  WebhookDispatcherStats stats() const;

 private:
  class Loop;
  std::unique_ptr<Loop> loop_;
  std::thread thread_;
};

}  // namespace stipple::webhook
