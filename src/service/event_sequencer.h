// EventSequencer: publishes each task's events in the order of its transitions, answers
// subscriptions (with histories rebuilt for tasks the bus does not know) and keeps the previews.
//
// Contract:
//  - Order: every Publish* is called after the store committed the transition it reports. Per
//    task the bus numbers events in publication order, and the sequencer keeps that order equal
//    to the transitions' order: per live task it remembers what it has published (its Ledger:
//    the last lease's fencing number and attempt, whether its `retrying` went out). When the
//    `started` of a new lease would come before the `retrying` of the lease it replaced (the
//    housekeeper's Reap and a waiting worker's lease finishing at the same moment), the
//    `retrying` is published first and the late one is dropped; a task's first event is always
//    `queued`. The ledger forgets a task at its terminal event, whichever process published it
//    (the all-task feed below sees every gateway's).
//  - Progress is checked against the ledger (a lost lease → kAborted; a task this process has
//    not seen start is checked against the store's record) and published, a batch's at once
//    (EventBus::PublishBatch).
//  - Tasks the bus knows nothing about (created before a restart, or ended longer ago than the
//    bus keeps histories) get a history rebuilt from their record (queued; started, and retrying
//    when back in the queue, if ever leased; the terminal event if ended), so a subscriber always
//    gets the terminal event and a replay of an ended task gives its state changes.
//  - Previews: the newest preview of each running task, from every progress event the bus
//    carries — this process's (kept at once) and, through an all-task subscription, every other
//    gateway's on a shared bus — so Preview answers on every gateway. Dropped at the task's
//    `retrying` and at its terminal event.
//  - Lost ends: the process that ended a task may die between the store's commit and the
//    publish (a gateway killed there, in the distributed mode), leaving the bus without the end.
//    A subscription to an ended task completes the history first (CompleteHistory). For the
//    subscriptions already open, the sequencer watches the tasks they wait on — a Subscribe or
//    WhenTerminal on a task not yet ended counts as one waiter from the call until its handle is
//    destroyed or its terminal event is delivered to it — and RepairLostEnds, which the caller
//    runs periodically (the housekeeper, every lost_end_check_interval), reads each watched task
//    and gives the bus the end of those the store says ended. Cost: one TaskStore::Get per
//    watched task (however many waiters it has) per call; nothing when nothing is watched.
//  - Owns the ledger, the preview cache and the watched tasks (three mutexes; the ledger's is
//    held across EventBus::Publish so per-task order is transition order) and the all-task
//    subscription; not the store or the bus (the caller's, outliving it). The handles it returns
//    may outlive it (not the bus). Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/thread_annotations.h"
#include "notify/event_bus.h"
#include "service/task_service.h"

namespace stipple {

class EventSequencer {
 public:
  // `clock`: the events' times.
  EventSequencer(TaskStore& store, EventBus& bus, const Clock* clock = SystemClock::Get());
  ~EventSequencer();  // ends the preview subscription
  EventSequencer(const EventSequencer&) = delete;
  EventSequencer& operator=(const EventSequencer&) = delete;

  void PublishQueued(const Task& task);
  void PublishStarted(const Task& task);
  void PublishRetrying(const Task& task);  // task: back in the queue; its fencing: the lost lease
  void PublishTerminal(const Task& task);
  // The progress of each report, one status per report, in order (see the header comment).
  std::vector<Status> PublishProgress(std::vector<ProgressReport> reports);

  // TaskService::Subscribe and WhenTerminal for `task`, the record as just read. On a task not
  // yet ended each makes one waiter of the task until the handle goes or the end is delivered.
  Result<std::unique_ptr<Subscription>> Subscribe(const Task& task, int64_t after_seq,
                                                  std::function<void(const TaskEvent&)> on_event);
  Result<std::unique_ptr<Subscription>> WhenTerminal(const Task& task,
                                                     std::function<void(const Task&)> done);
  std::unique_ptr<Subscription> SubscribeAll(const std::string& tenant,
                                             std::function<void(const TaskEvent&)> on_event);

  // Gives the bus the terminal event of `task` (ended, as the store just said) when it holds
  // none: the process that ended it may have died between the store's commit and the publish.
  void CompleteHistory(const Task& task);
  // Reads every task with a waiter here (one Get each) and completes the history of those the
  // store says ended (CompleteHistory: nothing when the bus holds the end). The first error of
  // the reads, after trying them all.
  Status RepairLostEnds();

  // The newest preview of the task; kNotFound when there is none (yet, or any more).
  Result<std::string> Preview(const std::string& task_id);

  // How many tasks the ledger holds (live tasks this process published events of; tests).
  size_t LiveTasks();

 private:
  struct Ledger {
    std::string tenant;
    uint64_t fencing = 0;        // of the last lease whose `started` was published; 0: none
    int attempt = 0;             // that lease's attempt
    bool back_in_queue = false;  // its `retrying` was published
  };

  // The waiters per task, shared with the handles and the callbacks that release them.
  struct Watches {
    Mutex mu;
    std::unordered_map<std::string, int> waiters GUARDED_BY(mu);
  };
  class Waiter;   // one waiter of a task; released once (end delivered, handle destroyed)
  class Watched;  // a handle that releases its waiter when destroyed

  // ledger_mu_ held. Creates the ledger of an unknown task, publishing its `queued` first;
  // nullptr when the task's terminal event was published already (the caller's event is stale).
  Ledger* LedgerFor(const Task& task) REQUIRES(ledger_mu_);
  TaskEvent MakeEvent(const Task& task, TaskEventType type) const;
  // The terminal event of a terminal task: the bus's, or one rebuilt from the record.
  TaskEvent TerminalEventOf(const Task& task);
  Result<std::unique_ptr<Subscription>> SubscribeEnded(
      const Task& task, int64_t after_seq, std::function<void(const TaskEvent&)> on_event);
  // The all-task feed's view of an event (any gateway's): the preview cache, and the ledger
  // dropped at a task's terminal event.
  void Observe(const TaskEvent& event);
  void DropPreview(const std::string& task_id);

  TaskStore& store_;
  EventBus& bus_;
  const Clock* clock_;

  Mutex ledger_mu_;  // held across bus_.Publish so per-task order is transition order
  std::unordered_map<std::string, Ledger> ledger_ GUARDED_BY(ledger_mu_);  // live tasks only

  Mutex previews_mu_;
  std::unordered_map<std::string, std::string> previews_ GUARDED_BY(previews_mu_);
  const std::shared_ptr<Watches> watches_ = std::make_shared<Watches>();

  std::unique_ptr<Subscription> preview_feed_;  // every task's events; destroyed first
};

}  // namespace stipple
