// The gateway's end of the worker protocol (docs/worker-protocol.md): POST /v1/worker/exchange,
// through which worker processes (`stipple worker`) reach a WorkSource over one keep-alive HTTP
// connection. Each exchange carries the worker's reports (heartbeats, progress, completions with
// their images, failures, releases) and optionally a lease ask; the answer carries one reply per
// report and the leased tasks. An ask from a worker that holds nothing is long-polled: the
// answer is held until a task is leased for it (handed over the moment it is enqueued) or the
// ask's wait ends.
//
// Authentication is by worker token (`Authorization: Bearer TOKEN`), separate from client API
// keys: an API key is not a worker token and a worker token opens no /v1/tasks route. With no
// tokens configured the endpoint refuses every call.
//
// Per worker the endpoint keeps a session: the hello (re-sent after a gateway restart, on a 409
// hello_required), the replies not yet acknowledged (a report resent after a reconnect gets its
// first reply, it is not applied twice), and the last time it was heard from; a worker silent
// for `silence` is unregistered (a live one is heard from every heartbeat, or waits in an ask).
// Reports of one worker are applied one exchange at a time, in sequence order.
//
// Threads: an exchange's reports, its hello and goodbye, and its first lease try (each may wait
// on a store commit, a result-store write or a round trip to the store) run on the gateway's
// blocking-call pool (blocking_calls.h), never on an I/O thread; the answer is sent from the
// connection's strand.
// A held ask waits in WorkSource::Lease on a thread of its own — one per idle worker, never an
// I/O thread. Tasks leased for an answer that can no longer be given (the worker reconnected and
// asked again, or the server is stopping) are released, without counting an attempt.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "api/blocking_calls.h"
#include "common/clock.h"
#include "http/route_table.h"
#include "service/task_service.h"

namespace stipple::http {

struct WorkerProtocolOptions {
  // The tokens worker processes may present (--worker-token). Kept only as SHA-256 digests.
  std::vector<std::string> tokens;
  // The longest a lease ask is held.
  Millis max_hold{30'000};
  // A worker not heard from for this long (and not waiting in a held ask) is unregistered; for
  // a worker with long leases (whose heartbeats come every lease / 10), a fifth of its lease.
  Millis silence{15'000};
  // Replies kept per worker for resent reports, beyond those it acknowledged.
  size_t max_unacked_replies = 4096;
};

class WorkerProtocol {
 public:
  // `source` and `calls` must outlive this object; `calls` runs the exchanges' service calls.
  WorkerProtocol(WorkSource& source, BlockingCalls& calls, WorkerProtocolOptions options);
  // Stop(), then joins the held asks (each ends within its wait).
  ~WorkerProtocol();
  WorkerProtocol(const WorkerProtocol&) = delete;
  WorkerProtocol& operator=(const WorkerProtocol&) = delete;

  // Adds POST /v1/worker/exchange.
  void AddRoutes(RouteTable& routes);

  // The server is stopping: held asks answer nothing more; what they lease is released.
  // Idempotent.
  void Stop();

  // Held asks waiting now (tests, metrics).
  int held_asks() const;

 private:
  class Impl;  // worker_protocol_handler.cc
  std::unique_ptr<Impl> impl_;
};

}  // namespace stipple::http
