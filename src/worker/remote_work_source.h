// RemoteWorkSource: the WorkSource of a worker process — the worker protocol's client
// (docs/worker-protocol.md). A Worker runs on it exactly as it runs on the task service in
// process; every call travels to a gateway's POST /v1/worker/exchange over one keep-alive
// connection, owned by one connection thread that batches whatever the Worker's threads have to
// say into the next exchange.
//
//  - Register sends the hello (id, host, device, models, max batch); it is sent again whenever a
//    gateway answers hello_required (it restarted, or forgot a silent worker).
//  - Lease is an ask carried by an exchange. While the worker holds no task, the ask is
//    long-polled: the gateway answers the moment a task is leased for it (pushed on enqueue) or
//    when the ask's wait ends. While it holds tasks, an ask rides on the exchanges its reports
//    cause, and is re-sent alone at most every busy_ask_interval, so a held answer never delays
//    a completion.
//  - Heartbeat, Complete, Fail, Release and MarkCanceled block until their reply. Progress does
//    not: it is queued (an unsent progress of the same task is replaced by the newer one) and
//    returns the last known state of the lease (kAborted once a reply said it was lost).
//    CompleteBatch and ProgressBatch queue a batch's messages at once, so they travel in one
//    exchange.
//  - Every report is numbered; one whose exchange failed is re-sent after reconnecting, and the
//    gateway answers a report it already applied with its first reply. So a disconnect shorter
//    than the lease loses nothing: heartbeats resume, the task stays this worker's. A report
//    gets kUnavailable only when no reply came within report_timeout (heartbeats:
//    heartbeat_timeout); the Worker then handles it as an unreachable store.
//  - Reconnects back off from reconnect_min to reconnect_max (doubling, with jitter).
//  - Failover: with several gateways (gateway_url, then other_gateways), a transport error or a
//    5xx moves the connection to the next one in turn (round robin) before the backoff's pause.
//    The gateways must share one task store (Redis): the new gateway answers hello_required,
//    the hello goes with the same unanswered messages, and a lease keeps its fencing number, so
//    a failover shorter than the lease keeps the running task this worker's. The connection
//    stays on whichever gateway answers; it moves again only when that one fails.
//
// Thread-safe; the destructor stops the connection thread and answers pending calls with
// kUnavailable.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "common/thread_annotations.h"
#include "service/task_service.h"
#include "service/worker_wire.h"
#include "worker/gateway_connection.h"

namespace stipple {

struct RemoteWorkSourceOptions {
  std::string gateway_url;  // http://HOST:PORT: the gateway tried first
  // More gateways over the same task store, tried in turn after gateway_url (failover).
  std::vector<std::string> other_gateways;
  std::string token;  // a worker token of the gateways
  Millis reconnect_min{100};
  Millis reconnect_max{5'000};
  Millis connect_timeout{5'000};  // a connect attempt, before the next gateway is tried
  Millis report_timeout{30'000};
  Millis heartbeat_timeout{5'000};
  Millis busy_ask_interval{100};
  // An exchange's HTTP deadline beyond its held wait.
  Millis request_timeout{30'000};
};

class RemoteWorkSource final : public WorkSource {
 public:
  // kInvalidArgument for a bad gateway URL (any of them) or an empty token. Connects on the
  // first call.
  static Result<std::unique_ptr<RemoteWorkSource>> Create(RemoteWorkSourceOptions options);
  ~RemoteWorkSource() override;

  Status Register(const WorkerInfo& worker) override;
  void Unregister(const std::string& worker_id) override;
  Result<std::vector<LeasedTask>> Lease(const LeaseRequest& request) override;
  Result<HeartbeatReply> Heartbeat(const std::string& task_id, uint64_t fencing,
                                   Millis lease_duration,
                                   std::optional<TaskProgress> progress) override;
  Status Progress(const std::string& task_id, uint64_t fencing, TaskProgress progress,
                  std::string preview_png) override;
  // The returned Task has only id, state and fencing set.
  Result<Task> Complete(const std::string& task_id, uint64_t fencing,
                        std::vector<GeneratedImage> images) override;
  // Every completion of the batch in the same exchange (one message each), answered together.
  std::vector<Result<Task>> CompleteBatch(std::vector<TaskImages> batch) override;
  // Queued together, so the step's reports go in one exchange; returns at once as Progress does.
  std::vector<Status> ProgressBatch(std::vector<ProgressReport> reports) override;
  Result<Task> Fail(const Failure& failure) override;
  Result<Task> Release(const std::string& task_id, uint64_t fencing) override;
  Result<Task> MarkCanceled(const std::string& task_id, uint64_t fencing) override;
  // POST /v1/worker/input on a connection of its own (not the exchange's: the bytes never go
  // in an exchange), to the current gateway, then the others in turn while they are unreachable
  // or answer 5xx. 404 → kNotFound.
  Result<std::string> GetInput(const std::string& sha256_hex) override;

  int exchanges() const;   // answered exchanges so far
  int reconnects() const;  // connects after the first
  int failovers() const;   // moves to another gateway after a failure
  // The URL of the gateway the connection is on (or will try next).
  std::string current_gateway() const;

 private:
  using Steady = std::chrono::steady_clock;
  enum class CallKind { kMessage, kAsk, kHello, kGoodbye };
  struct Call {
    CallKind kind = CallKind::kMessage;
    wire::WorkerMessage message;
    wire::LeaseAsk ask;
    Steady::time_point give_up;  // kUnavailable (an ask: empty) after this
    Steady::time_point ask_end;  // kAsk: when its wait ends
    bool wait_for_reply = true;  // false: Progress
    bool in_flight = false;      // in the exchange being sent
    bool done = false;
    Status status;
    wire::MessageReply reply;
    std::vector<LeasedTask> leased;
  };
  using CallPtr = std::shared_ptr<Call>;

  RemoteWorkSource(RemoteWorkSourceOptions options, std::vector<GatewayAddress> addresses);

  // Queues `call` and waits for it to be answered.
  void Submit(const CallPtr& call);
  // Queues every call at once (they go in the same exchange) and waits for the answers of
  // those that wait for a reply.
  void SubmitAll(const std::vector<CallPtr>& calls);
  Result<Task> Report(wire::WorkerMessage message);
  // A final report's answer as a Task (id, state and fencing).
  static Result<Task> Answered(const Call& call);
  void ConnectionLoop();
  // Whether an exchange should go now; sets *wake to when to look again otherwise.
  bool Due(Steady::time_point now, Steady::time_point* wake) const REQUIRES(mu_);
  void Finish(const CallPtr& call, Status status) REQUIRES(mu_);
  void GiveUpLate(Steady::time_point now) REQUIRES(mu_);
  void Answer(const wire::ExchangeResponse& response, const std::vector<CallPtr>& sent,
              Steady::time_point now) REQUIRES(mu_);
  void NoteLost(const std::string& task_id, uint64_t fencing, const Status& status) REQUIRES(mu_);

  const RemoteWorkSourceOptions options_;
  std::vector<std::string> urls_;  // gateway_url, then other_gateways
  // One per gateway; only connections_[current_] is open. The connection thread's only.
  std::vector<std::unique_ptr<GatewayConnection>> connections_;

  mutable Mutex mu_;
  std::condition_variable wake_cv_;  // the connection thread
  std::condition_variable done_cv_;  // callers
  bool stopping_ GUARDED_BY(mu_) = false;
  std::optional<WorkerInfo> hello_ GUARDED_BY(mu_);
  bool hello_needed_ GUARDED_BY(mu_) = false;
  std::deque<CallPtr> calls_ GUARDED_BY(mu_);  // unanswered, in order
  int64_t next_seq_ GUARDED_BY(mu_) = 1;
  int64_t acked_ GUARDED_BY(mu_) = 0;
  std::map<std::string, uint64_t> held_ GUARDED_BY(mu_);  // task → fencing
  std::map<std::string, uint64_t> lost_ GUARDED_BY(mu_);  // lost leases
  Steady::time_point next_busy_ask_ GUARDED_BY(mu_){};
  int exchanges_ GUARDED_BY(mu_) = 0;
  int connects_ GUARDED_BY(mu_) = 0;
  size_t current_ GUARDED_BY(mu_) = 0;  // index into connections_
  int failovers_ GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace stipple
