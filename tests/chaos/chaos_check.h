// The invariants a chaos run (chaos_run.h) must keep, checked after it from what the store holds
// and what the clients recorded. Pure: no processes, no I/O, so each rule has a unit test.
//
// The rules (Violation::invariant names them):
//  - "acknowledged-task-missing": a task whose submit was acknowledged (2xx) is not in the store.
//  - "not-ended": a task in the store (acknowledged or not) is not terminal after the run
//    settled; "stuck-running": it is still running once every lease had time to expire.
//  - "end-changed": a client saw the task end in one state and the store holds another (a
//    terminal state never changes).
//  - "events": the replay of the task's events (from seq 0) is not in increasing seq order, has
//    no terminal event or more than one, has one that is not last, or names another state than
//    the store's.
//  - "output-without-lease": the result store holds outputs of a (task, fencing) that is not the
//    lease that completed a succeeded task; "outputs-missing": a succeeded task without outputs,
//    or with one the result store cannot read back.
//  - "webhook-not-delivered": a webhook task ended but no delivery of its end arrived;
//    "webhook-id-changed": deliveries of one event of one task came with different webhook-ids;
//    "webhook-state": a delivered end names another state than the store's.
//  - "sync-unanswered": a sync submit got neither an answer nor a connection error — the run cut
//    it off, or the client timed out waiting for any answer (a hang).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/task.h"
#include "core/task_event.h"
#include "loadgen/load_run.h"
#include "results/result_store.h"

namespace stipple::chaos {

// What the deployment holds once the run settled.
struct StoreView {
  std::map<std::string, Task> tasks;  // every task of the store, by id
  // Running tasks as the live deployment listed them after every lease had time to expire (a
  // store reopened after a stop may already have recovered them).
  std::vector<std::string> running_after_settle;
  // "tsk_… output N: why", for outputs of succeeded tasks the result store could not read.
  std::vector<std::string> unreadable_outputs;
  // Every (task, fencing) holding outputs; nullopt when the result store cannot list them (it
  // has a safety net of its own: Redis TTL).
  std::optional<std::vector<StoredLease>> leases;
};

// Each acknowledged task's events replayed from the start; a task whose replay failed is in
// `unreadable` with why.
struct EventsView {
  std::map<std::string, std::vector<TaskEvent>> events;
  std::map<std::string, std::string> unreadable;
};

struct Violation {
  std::string invariant;  // one of the names above
  std::string detail;     // the task and what was seen
};

std::vector<Violation> CheckInvariants(const loadgen::LoadRun& run, const StoreView& store,
                                       const EventsView& events);

}  // namespace stipple::chaos
