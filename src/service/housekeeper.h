// Housekeeper: the service's periodic upkeep of the task store and the result store.
//
// Contract:
//  - Each pass (Housekeep) runs TaskStore::Reap and hands every transition it reports (lapsed
//    leases requeued or failed, cancels that took effect, tasks expired by their ttl) to
//    `on_transition`, which publishes its event; then deletes the outputs whose retention passed.
//    At its first pass and every output_sweep_interval after, it also deletes the outputs no
//    lease owns (ResultStore::ListLeases): those of a lease other than the one that completed a
//    succeeded task, every output of a task that ended without succeeding (or whose outputs
//    expired), and every output of a task the store does not know. Tasks still queued or running
//    are left alone; stores that cannot list (kUnimplemented) are skipped.
//  - Lost ends: at its first pass and every lost_end_check_interval after (on `clock`), a pass
//    also calls `check_lost_ends` when set (the ServiceStack's: EventSequencer::RepairLostEnds,
//    one store read per task an open stream or wait of this process follows).
//  - Image inputs (ResultStore::PutInput, shared by every task with the same bytes) are kept
//    while a queued or running task references them (ImageInput::sha256), since only a run
//    reads them: the same sweep deletes an input that no queued or running task referenced at
//    two sweeps at least output_sweep_interval apart (the wait covers a submit that stored its
//    input but not yet its task). Stores that cannot list leave inputs to their own expiry
//    (Redis TTL, S3 lifecycle rule), as outputs.
//  - Threads: with `thread` set, one thread of its own runs a pass every reap_interval (real
//    time) until Stop(); without it nothing runs by itself and the caller calls Housekeep()
//    (tests). A failed pass is logged and the next one runs as usual.
//  - Owns its thread; not the stores (the caller's, outliving it). `on_transition` is called on
//    the housekeeping thread (or Housekeep's caller) with no lock of the housekeeper held.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/thread_annotations.h"
#include "results/result_store.h"
#include "store/task_store.h"

namespace stipple {

struct HousekeeperOptions {
  const Clock* clock = SystemClock::Get();       // the sweep interval's clock
  Millis reap_interval{1'000};                   // how often the thread runs a pass (real time)
  Millis output_sweep_interval{10 * 60 * 1000};  // how often a pass looks for orphan outputs
  bool thread = true;                            // false: only Housekeep() runs a pass
  Millis lost_end_check_interval{5'000};         // how often a pass calls check_lost_ends
  std::function<Status()> check_lost_ends;       // empty: none
};

class Housekeeper {
 public:
  Housekeeper(TaskStore& store, ResultStore& results,
              std::function<void(const Task&)> on_transition, HousekeeperOptions options = {});
  ~Housekeeper();  // Stop()
  Housekeeper(const Housekeeper&) = delete;
  Housekeeper& operator=(const Housekeeper&) = delete;

  // One pass (see the header comment); the first error of its parts, after trying them all.
  Status Housekeep();
  // Ends the thread (waits for a running pass). Idempotent.
  void Stop();

 private:
  void Loop();
  Status SweepOutputs();
  // The inputs among `leases` no queued or running task references, for long enough (above).
  Status SweepInputs(const std::vector<StoredLease>& leases);

  TaskStore& store_;
  ResultStore& results_;
  const std::function<void(const Task&)> on_transition_;
  const HousekeeperOptions options_;

  Mutex mu_;
  std::condition_variable cv_;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::optional<Timestamp> last_sweep_ GUARDED_BY(mu_);
  std::optional<Timestamp> last_lost_end_check_ GUARDED_BY(mu_);
  // Input SHA-256 → the sweep that first found it unreferenced (sweeps run one at a time).
  std::map<std::string, Timestamp> unreferenced_inputs_;
  std::thread thread_;
};

}  // namespace stipple
