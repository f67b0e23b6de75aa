// FakeTaskService: an in-memory TaskService for the gateway's tests.
#include <algorithm>

#include "api/testing/http_test_support.h"

namespace stipple::http::testing {

struct FakeTaskService::Sub : Subscription {
  std::string task_id;  // "" with all = true
  std::string tenant;
  bool all = false;
  bool terminal_only = false;  // WhenTerminal
  std::function<void(const TaskEvent&)> on_event;
  std::function<void(const Task&)> on_terminal;
  std::shared_ptr<Mutex> call_mu = std::make_shared<Mutex>();
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
  ~Sub() override {
    MutexLock lock(*call_mu);  // waits for a running callback
    *alive = false;
  }
};

FakeTaskService::FakeTaskService(const Clock* clock) : clock_(clock) {
  cb_thread_ = std::thread([this] {
    MutexLock lock(cb_mu_);
    while (true) {
      cb_cv_.wait(lock.native(),
                  [this]() REQUIRES(cb_mu_) { return cb_stop_ || !callbacks_.empty(); });
      if (callbacks_.empty()) return;
      auto fn = std::move(callbacks_.front());
      callbacks_.pop_front();
      lock.Unlock();
      fn();
      lock.Lock();
    }
  });
}

FakeTaskService::~FakeTaskService() {
  {
    MutexLock lock(cb_mu_);
    cb_stop_ = true;
  }
  cb_cv_.notify_all();
  cb_thread_.join();
}

void FakeTaskService::RunOnCallbackThread(std::function<void()> fn) {
  {
    MutexLock lock(cb_mu_);
    callbacks_.push_back(std::move(fn));
  }
  cb_cv_.notify_all();
}

bool FakeTaskService::Visible(const std::string& tenant, const Task& task) const {
  return tenant.empty() || task.tenant == tenant;
}

std::unique_ptr<Subscription> FakeTaskService::Track(std::shared_ptr<Sub> sub) {
  subs_.push_back(sub);
  // The handle owns the Sub; subs_ only watches it, so dropping the handle unsubscribes.
  struct Handle : Subscription {
    std::shared_ptr<Sub> sub;
  };
  auto handle = std::make_unique<Handle>();
  handle->sub = std::move(sub);
  return handle;
}

Result<EnqueueResult> FakeTaskService::Submit(const NewTask& nt) {
  MutexLock lock(mu_);
  ++submit_calls_;
  if (!submit_error_.ok()) return submit_error_;
  if (!nt.idempotency_key.empty()) {
    auto it = idempotency_.find({nt.tenant, nt.idempotency_key});
    if (it != idempotency_.end()) {
      if (fingerprints_[it->second] != nt.request_fingerprint) {
        return AlreadyExistsError("idempotency key used with another body");
      }
      return EnqueueResult{tasks_[it->second], false, std::nullopt};
    }
  }
  if (nt.tenant_max_queued > 0) {  // the tenant quota, as Admission applies it
    int64_t queued = 0;
    for (const auto& [id, t] : tasks_) {
      if (t.tenant == nt.tenant && t.state == TaskState::kQueued) ++queued;
    }
    if (queued >= nt.tenant_max_queued) {
      return TenantQuotaError(nt.tenant, queued, nt.tenant_max_queued, 0,
                              ComputeServiceRate(queue_));
    }
  }
  if (!nt.idempotency_key.empty()) idempotency_[{nt.tenant, nt.idempotency_key}] = nt.id;
  submitted_.push_back(nt);
  fingerprints_[nt.id] = nt.request_fingerprint;
  Task t;
  t.id = nt.id;
  t.tenant = nt.tenant;
  t.request = nt.request;
  t.idempotency_key = nt.idempotency_key;
  t.created_at = clock_->Now();
  t.max_attempts = nt.max_attempts;
  t.queue_position = 0;
  tasks_[t.id] = t;
  TaskEvent e;
  e.type = TaskEventType::kQueued;
  Publish(t.id, e);
  return EnqueueResult{t, true, std::nullopt};
}

Result<Task> FakeTaskService::Get(const std::string& tenant, const std::string& id) {
  MutexLock lock(mu_);
  auto it = tasks_.find(id);
  if (it == tasks_.end() || !Visible(tenant, it->second)) return NotFoundError("no such task");
  return it->second;
}

Result<CancelResult> FakeTaskService::Cancel(const std::string& tenant, const std::string& id) {
  Task task;
  {
    MutexLock lock(mu_);
    auto it = tasks_.find(id);
    if (it == tasks_.end() || !Visible(tenant, it->second)) return NotFoundError("no such task");
    if (IsTerminal(it->second.state)) return CancelResult{it->second, true};
    if (it->second.state == TaskState::kRunning) {
      it->second.cancel_requested = true;
      return CancelResult{it->second, false};
    }
  }
  Finish(id, TaskState::kCanceled);
  MutexLock lock(mu_);
  return CancelResult{tasks_[id], false};
}

Result<TaskPage> FakeTaskService::List(const ListQuery& q) {
  MutexLock lock(mu_);
  TaskPage page;
  for (auto it = tasks_.rbegin(); it != tasks_.rend(); ++it) {
    const Task& t = it->second;
    if (!Visible(q.tenant, t) || (q.state && t.state != *q.state)) continue;
    if (!q.cursor.empty() && t.id >= q.cursor) continue;
    if (static_cast<int>(page.tasks.size()) == q.limit) {
      page.next_cursor = page.tasks.back().id;
      break;
    }
    page.tasks.push_back(t);
  }
  if (q.cursor == "bad") return InvalidArgumentError("malformed cursor");
  return page;
}

Result<std::unique_ptr<Subscription>> FakeTaskService::WhenTerminal(
    const std::string& tenant, const std::string& id, std::function<void(const Task&)> done) {
  MutexLock lock(mu_);
  auto it = tasks_.find(id);
  if (it == tasks_.end() || !Visible(tenant, it->second)) return NotFoundError("no such task");
  auto sub = std::make_shared<Sub>();
  sub->task_id = id;
  sub->terminal_only = true;
  sub->on_terminal = std::move(done);
  if (IsTerminal(it->second.state)) {
    RunOnCallbackThread(
        [mu = sub->call_mu, alive = sub->alive, fn = sub->on_terminal, t = it->second] {
          MutexLock l(*mu);
          if (*alive) fn(t);
        });
  }
  return Track(std::move(sub));
}

Result<std::unique_ptr<Subscription>> FakeTaskService::Subscribe(
    const std::string& tenant, const std::string& id, int64_t after_seq,
    std::function<void(const TaskEvent&)> on_event) {
  MutexLock lock(mu_);
  auto it = tasks_.find(id);
  if (it == tasks_.end() || !Visible(tenant, it->second)) return NotFoundError("no such task");
  auto sub = std::make_shared<Sub>();
  sub->task_id = id;
  sub->tenant = tenant;
  sub->on_event = std::move(on_event);
  std::vector<TaskEvent> replay;
  for (const TaskEvent& e : events_[id]) {
    bool terminal = IsTerminal(it->second.state);
    if ((terminal && IsTerminalEvent(e.type)) || (!terminal && e.seq > after_seq)) {
      replay.push_back(e);
    }
  }
  RunOnCallbackThread([mu = sub->call_mu, alive = sub->alive, fn = sub->on_event, replay] {
    MutexLock l(*mu);
    for (const TaskEvent& e : replay) {
      if (*alive) fn(e);
    }
  });
  return Track(std::move(sub));
}

std::unique_ptr<Subscription> FakeTaskService::SubscribeAll(const std::string&,
                                                            std::function<void(const TaskEvent&)>) {
  return std::make_unique<Sub>();  // not used by the gateway's REST/SSE handlers
}

Result<OutputBlob> FakeTaskService::Output(const std::string& tenant, const std::string& id,
                                           int index) {
  MutexLock lock(mu_);
  auto it = tasks_.find(id);
  if (it == tasks_.end() || !Visible(tenant, it->second)) return NotFoundError("no such task");
  const Task& t = it->second;
  if (t.state != TaskState::kSucceeded)
    return FailedPreconditionError("the task has not succeeded");
  if (t.outputs_expired) return Status(StatusCode::kOutOfRange, "the outputs expired");
  if (index >= static_cast<int>(t.outputs.size())) return NotFoundError("no such output");
  return OutputBlob{"png:" + id + ":" + std::to_string(index), "image/png", t.outputs[index].etag};
}

Result<std::string> FakeTaskService::Preview(const std::string& tenant, const std::string& id) {
  MutexLock lock(mu_);
  auto it = tasks_.find(id);
  if (it == tasks_.end() || !Visible(tenant, it->second)) return NotFoundError("no such task");
  auto p = previews_.find(id);
  if (p == previews_.end()) return NotFoundError("no preview yet");
  return p->second;
}

Result<QueueSnapshot> FakeTaskService::Queue() {
  MutexLock lock(mu_);
  return queue_;
}

Status FakeTaskService::Ready() {
  MutexLock lock(mu_);
  return ready_;
}

void FakeTaskService::Publish(const std::string& id, TaskEvent e) {
  std::vector<TaskEvent>& list = events_[id];
  e.task_id = id;
  e.seq = static_cast<int64_t>(list.size()) + 1;
  e.time = clock_->Now();
  if (IsTerminalEvent(e.type)) e.task = tasks_[id];
  list.push_back(e);
  for (auto& weak : subs_) {
    auto sub = weak.lock();
    if (!sub || sub->task_id != id) continue;
    if (sub->terminal_only) {
      if (!IsTerminalEvent(e.type)) continue;
      RunOnCallbackThread(
          [mu = sub->call_mu, alive = sub->alive, fn = sub->on_terminal, t = tasks_[id]] {
            MutexLock l(*mu);
            if (*alive) fn(t);
          });
    } else {
      RunOnCallbackThread([mu = sub->call_mu, alive = sub->alive, fn = sub->on_event, e] {
        MutexLock l(*mu);
        if (*alive) fn(e);
      });
    }
  }
  std::erase_if(subs_, [](const std::weak_ptr<Sub>& w) { return w.expired(); });
}

void FakeTaskService::Start(const std::string& id) {
  MutexLock lock(mu_);
  Task& t = tasks_.at(id);
  t.state = TaskState::kRunning;
  t.started_at = clock_->Now();
  t.attempts = 1;
  t.queue_position.reset();
  TaskEvent e;
  e.type = TaskEventType::kStarted;
  e.attempt = 1;
  e.worker_id = "wrk_test";
  Publish(id, e);
}

void FakeTaskService::Progress(const std::string& id, int step, int steps, std::string preview) {
  MutexLock lock(mu_);
  tasks_.at(id).progress = TaskProgress{step, steps};
  if (!preview.empty()) previews_[id] = preview;
  TaskEvent e;
  e.type = TaskEventType::kProgress;
  e.progress = TaskProgress{step, steps};
  e.preview_png = std::move(preview);
  Publish(id, e);
}

void FakeTaskService::Finish(const std::string& id, TaskState state) {
  MutexLock lock(mu_);
  Task& t = tasks_.at(id);
  t.state = state;
  t.completed_at = clock_->Now();
  t.queue_position.reset();
  if (state == TaskState::kSucceeded) {
    for (int i = 0; i < t.request.num_images; ++i) {
      TaskOutput o;
      o.index = i;
      o.width = t.request.width;
      o.height = t.request.height;
      o.seed = t.request.seed + static_cast<uint32_t>(i);
      o.etag = "\"" + id + "-" + std::to_string(i) + "\"";
      t.outputs.push_back(o);
    }
    t.outputs_expire_at = clock_->Now() + Millis(3'600'000);
  }
  if (state == TaskState::kFailed) t.error = TaskError{"engine_error", "failed in a test"};
  TaskEvent e;
  e.type = TerminalEventType(state);
  Publish(id, e);
}

void FakeTaskService::Succeed(const std::string& id) { Finish(id, TaskState::kSucceeded); }
void FakeTaskService::Fail(const std::string& id) { Finish(id, TaskState::kFailed); }

void FakeTaskService::ExpireOutputs(const std::string& id) {
  MutexLock lock(mu_);
  tasks_.at(id).outputs_expired = true;
}

size_t FakeTaskService::submit_calls() const {
  MutexLock lock(mu_);
  return submit_calls_;
}

std::vector<NewTask> FakeTaskService::submitted() const {
  MutexLock lock(mu_);
  return submitted_;
}

size_t FakeTaskService::active_subscriptions() const {
  MutexLock lock(mu_);
  size_t n = 0;
  for (const auto& w : subs_) n += w.expired() ? 0 : 1;
  return n;
}

void FakeTaskService::set_ready(Status s) {
  MutexLock lock(mu_);
  ready_ = std::move(s);
}
void FakeTaskService::set_queue(QueueSnapshot s) {
  MutexLock lock(mu_);
  queue_ = std::move(s);
}
void FakeTaskService::set_submit_error(Status s) {
  MutexLock lock(mu_);
  submit_error_ = std::move(s);
}

}  // namespace stipple::http::testing
