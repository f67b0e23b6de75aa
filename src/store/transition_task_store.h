// TransitionTaskStore: the TaskStore methods that are exactly one rule of store/transitions.h
// applied to one task (Fail, Release, MarkCanceled, Cancel), written once for every store that
// can load a task, change it and save it in one atomic step. A store derives from it and provides
// that step (Transition) and its clock; the rules themselves stay in transitions.cc.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "store/task_store.h"

namespace stipple {

class TransitionTaskStore : public TaskStore {
 public:
  Result<Task> Fail(const Failure& failure) final;
  Result<Task> Release(const std::string& task_id, uint64_t fencing) final;
  Result<Task> MarkCanceled(const std::string& task_id, uint64_t fencing) final;
  Result<CancelResult> Cancel(const std::string& task_id) final;

 protected:
  // The store's injected clock.
  virtual Timestamp Now() const = 0;
  // Loads the task, lets `apply` change it and saves it in one atomic step (as durably as the
  // store's other transitions), answering the task as saved. `apply` returning an error changes
  // nothing and that error is answered; kNotFound when there is no such task.
  virtual Result<Task> Transition(const std::string& task_id,
                                  const std::function<Status(Task&)>& apply) = 0;
};

}  // namespace stipple
