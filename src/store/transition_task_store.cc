#include "store/transition_task_store.h"

#include "store/transitions.h"

namespace stipple {

Result<Task> TransitionTaskStore::Fail(const Failure& failure) {
  return Transition(failure.task_id,
                    [&](Task& t) { return transitions::FailUnderLease(t, failure, Now()); });
}

Result<Task> TransitionTaskStore::Release(const std::string& task_id, uint64_t fencing) {
  return Transition(task_id,
                    [&](Task& t) { return transitions::ReleaseUnderLease(t, fencing, Now()); });
}

Result<Task> TransitionTaskStore::MarkCanceled(const std::string& task_id, uint64_t fencing) {
  return Transition(
      task_id, [&](Task& t) { return transitions::MarkCanceledUnderLease(t, fencing, Now()); });
}

Result<CancelResult> TransitionTaskStore::Cancel(const std::string& task_id) {
  bool terminal = false;
  auto task = Transition(task_id, [&](Task& t) {
    terminal = IsTerminal(t.state);
    transitions::Cancel(t, Now());
    return Status::Ok();
  });
  if (!task.ok()) return task.status();
  return CancelResult{std::move(*task), terminal};
}

}  // namespace stipple
