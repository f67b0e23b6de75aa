#include "chaos_check.h"

#include <set>
#include <utility>

#include "core/task_state.h"

namespace stipple::chaos {
namespace {

class Checker {
 public:
  void Add(std::string invariant, std::string detail) {
    violations_.push_back({std::move(invariant), std::move(detail)});
  }
  std::vector<Violation> Take() { return std::move(violations_); }

 private:
  std::vector<Violation> violations_;
};

std::string StateName(const Task& task) { return std::string(TaskStateName(task.state)); }

void CheckEvents(const std::string& id, const Task& task, const std::vector<TaskEvent>& events,
                 Checker& check) {
  int terminal = 0;
  int64_t last_seq = 0;
  for (size_t k = 0; k < events.size(); ++k) {
    const TaskEvent& e = events[k];
    if (e.seq <= last_seq) {
      check.Add("events",
                id + ": seq " + std::to_string(e.seq) + " after " + std::to_string(last_seq));
    }
    last_seq = e.seq;
    if (!IsTerminalEvent(e.type)) continue;
    ++terminal;
    if (k + 1 != events.size()) check.Add("events", id + ": a terminal event that is not last");
    if (e.type != TerminalEventType(task.state)) {
      check.Add("events", id + ": terminal event " + std::string(TaskEventTypeName(e.type)) +
                              ", the store says " + StateName(task));
    }
  }
  if (terminal != 1) {
    check.Add("events", id + ": " + std::to_string(terminal) + " terminal events");
  }
}

void CheckWebhooks(const loadgen::LoadRun& run, const StoreView& store, Checker& check) {
  // (task, event) → the webhook-ids it came with; task → the terminal states delivered.
  std::map<std::pair<std::string, std::string>, std::set<std::string>> ids;
  std::map<std::string, std::set<std::string>> ends;
  for (const loadgen::WebhookDelivery& d : run.webhooks) {
    ids[{d.task_id, d.event}].insert(d.webhook_id);
    std::optional<TaskState> state = ParseTaskState(d.state);
    if (state && IsTerminal(*state)) ends[d.task_id].insert(d.state);
  }
  for (const auto& [key, set] : ids) {
    if (set.size() != 1 || set.begin()->empty()) {
      check.Add("webhook-id-changed",
                key.first + " " + key.second + ": " + std::to_string(set.size()) + " webhook-ids");
    }
  }
  for (const loadgen::RequestRecord& r : run.requests) {
    if (r.kind != loadgen::RequestKind::kWebhook || !r.acknowledged) continue;
    auto task = store.tasks.find(r.task_id);
    if (task == store.tasks.end() || !IsTerminal(task->second.state)) continue;
    auto delivered = ends.find(r.task_id);
    if (delivered == ends.end()) {
      check.Add("webhook-not-delivered", r.task_id + " ended " + StateName(task->second));
      continue;
    }
    for (const std::string& state : delivered->second) {
      if (state != StateName(task->second)) {
        check.Add("webhook-state", r.task_id + ": delivered " + state + ", the store says " +
                                       StateName(task->second));
      }
    }
  }
}

}  // namespace

std::vector<Violation> CheckInvariants(const loadgen::LoadRun& run, const StoreView& store,
                                       const EventsView& events) {
  Checker check;
  for (const loadgen::RequestRecord& r : run.requests) {
    if (r.kind == loadgen::RequestKind::kSync &&
        (r.cut_off || r.error_code == StatusCode::kDeadlineExceeded)) {
      check.Add("sync-unanswered", "request at " + std::to_string(r.intended_s) + " s: " +
                                       (r.cut_off ? "no answer by the end of the run" : r.error));
    }
    if (!r.acknowledged) continue;
    auto found = store.tasks.find(r.task_id);
    if (found == store.tasks.end()) {
      check.Add("acknowledged-task-missing", r.task_id);
      continue;
    }
    const Task& task = found->second;
    if (!r.final_state.empty() && r.final_state != StateName(task)) {
      check.Add("end-changed",
                r.task_id + ": seen " + r.final_state + ", the store says " + StateName(task));
    }
    if (!IsTerminal(task.state)) continue;  // reported below
    if (auto replay = events.events.find(r.task_id); replay != events.events.end()) {
      CheckEvents(r.task_id, task, replay->second, check);
    } else if (auto why = events.unreadable.find(r.task_id); why != events.unreadable.end()) {
      check.Add("events", r.task_id + ": no replay: " + why->second);
    }
  }
  for (const auto& [id, task] : store.tasks) {
    if (!IsTerminal(task.state)) check.Add("not-ended", id + " is " + StateName(task));
    if (task.state == TaskState::kSucceeded && task.outputs.empty()) {
      check.Add("outputs-missing", id + " succeeded without outputs");
    }
  }
  for (const std::string& id : store.running_after_settle) check.Add("stuck-running", id);
  for (const std::string& why : store.unreadable_outputs) check.Add("outputs-missing", why);
  if (store.leases) {
    for (const StoredLease& lease : *store.leases) {
      auto task = store.tasks.find(lease.task_id);
      const bool owned = task != store.tasks.end() && task->second.state == TaskState::kSucceeded &&
                         task->second.fencing == lease.fencing;
      if (!owned) {
        check.Add("output-without-lease",
                  lease.task_id + " fencing " + std::to_string(lease.fencing) +
                      (task == store.tasks.end()
                           ? " (no such task)"
                           : ", the task is " + StateName(task->second) + " with fencing " +
                                 std::to_string(task->second.fencing)));
      }
    }
  }
  CheckWebhooks(run, store, check);
  return check.Take();
}

}  // namespace stipple::chaos
