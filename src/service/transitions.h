// What follows every committed transition of a task, whoever committed it (a client's cancel, a
// worker's report, the housekeeper's Reap): a task back in the queue has lost its lease (the
// registry forgets it) and gets its `retrying`; an ended task has left its worker, counts in the
// totals and gets its terminal event. Other states need nothing here.
#pragma once

#include "service/event_sequencer.h"
#include "service/worker_registry.h"

namespace stipple {

inline void AfterTransition(const Task& task, EventSequencer& events, WorkerRegistry& workers) {
  if (task.state == TaskState::kQueued) {
    workers.TaskLeft(task.id, task.fencing);
    events.PublishRetrying(task);
  } else if (IsTerminal(task.state)) {
    workers.TaskLeft(task.id, task.fencing);
    workers.Finish(task);
    events.PublishTerminal(task);
  }
}

}  // namespace stipple
