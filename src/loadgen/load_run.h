// RunLoad: drives a stipple server with a LoadPlan and records what became of every request —
// the engine of `stipple bench` (apps/stipple/bench.cc). Works against any deployment through the
// HTTP API (src/client).
//
// How a run goes:
// - `connections` sender threads take requests in schedule order; each sleeps until its request's
//   intended time and sends it on its own kept-alive connection. When every sender is busy a
//   request goes out late, but its latency still counts from its intended time (open loop, no
//   coordinated omission). Submits are tried once (no client retries): a refused or failed one is
//   an error, not a hidden delay.
// - async: POST /v1/tasks, then the task is polled (GET /v1/tasks/{id}) every poll_interval by
//   `pollers` threads until it ends. sync: POST with `Prefer: wait=wait_s`, sent at its intended
//   time from a thread of its own (it holds its connection until the task ends, so it never
//   takes a sender); a 202 is polled on.
//   sse: POST, then GET /v1/tasks/{id}/events on a thread of its own until the terminal event
//   (a stream that fails is opened again, resuming after the last event seen, until the run
//   stops). These threads are joined soon after they end (when the next one starts), so a long
//   run (tests/soak) holds only those still at work. webhook: POST with a webhook for "completed"
//   to a receiver this process runs on loopback (webhook_host:port, so the server must reach this
//   machine and allow private targets); every delivery is recorded (LoadRun::webhooks). cancel:
//   POST, then POST /v1/tasks/{id}/cancel from a poller, which then polls it until it ends.
// - A sampler reads GET /v1/queue every queue_sample for the queue depth over time.
// - After the last send, acknowledged tasks get `drain` to end (and sync submits to be
//   answered); those that have not are lost. A submit still waiting for its answer then is cut
//   off (RequestRecord::cut_off): for a sync submit that is a hang, since its wait (wait_s) and
//   the client's timeout are bounded.
// Times: submit latency is the answer's arrival − the intended send time; queue wait and end to
// end are the server's (started_at − created_at, completed_at − created_at, in milliseconds);
// "seen" end to end is when this process learnt the end − the intended send time.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "loadgen/latency_stats.h"
#include "loadgen/load_plan.h"

namespace stipple::loadgen {

struct LoadOptions {
  std::string server_url = "http://127.0.0.1:8080";
  std::string api_key;
  std::string model;  // empty: the server's default
  int steps = 0;      // 0: the model's default
  double rate = 100;  // requests per second
  Nanos duration = std::chrono::seconds(10);
  Mix mix;
  int connections = 64;
  int wait_s = 60;  // sync: Prefer: wait=N
  Nanos poll_interval = std::chrono::milliseconds(100);
  int pollers = 4;
  Nanos drain = std::chrono::seconds(30);
  Nanos queue_sample = std::chrono::milliseconds(250);
  std::string webhook_host = "127.0.0.1";
};

// kInvalidArgument naming the option for a value out of range.
Status CheckLoadOptions(const LoadOptions& options);

// What became of one scheduled request.
struct RequestRecord {
  RequestKind kind = RequestKind::kAsync;
  double intended_s = 0;                    // intended send time, from the start
  std::optional<Nanos> answer_latency;      // the submit's answer (any status), from intended
  bool acknowledged = false;                // 2xx with a task
  std::string error;                        // why not acknowledged ("429 …", "unavailable …")
  StatusCode error_code = StatusCode::kOk;  // the client's code for `error`
  bool cut_off = false;                     // no answer by the end of the drain: the run gave up
  bool cancel_sent = false;                 // kind cancel: its cancel was answered (any answer)
  std::string task_id;
  std::string final_state;          // when its end was seen: succeeded, failed, …
  std::optional<Nanos> queue_wait;  // server: started_at − created_at
  std::optional<Nanos> end_to_end;  // server: completed_at − created_at
  std::optional<Nanos> seen_end;    // this process: end seen − intended
};

struct QueueSample {
  double at_s = 0;
  int64_t queued = 0;
  int64_t running = 0;
};

// One webhook delivery the receiver got (kind webhook), as it came; retries included.
struct WebhookDelivery {
  std::string task_id;     // data.id
  std::string webhook_id;  // the webhook-id header
  std::string event;       // the body's "type"
  std::string state;       // data.status
  double at_s = 0;         // arrival, from the start
};

struct LoadRun {
  std::vector<RequestRecord> requests;  // in schedule order
  std::vector<WebhookDelivery> webhooks;
  std::vector<QueueSample> queue;
  double send_s = 0;   // from the start to the last answer of a submit other than sync
  double total_s = 0;  // from the start to the end of the drain
};

// kInvalidArgument for bad options, kUnavailable when the server cannot be reached at the start
// (GET /v1/queue); otherwise the run, whatever the server answered.
Result<LoadRun> RunLoad(const LoadOptions& options);

}  // namespace stipple::loadgen
