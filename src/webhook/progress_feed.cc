#include "webhook/progress_feed.h"

#include "common/log.h"

namespace stipple::webhook {

WebhookProgressFeed::WebhookProgressFeed(EventBus& bus, TaskStore& store, WebhookOutbox& outbox,
                                         Millis interval, const Clock* clock)
    : store_(store), outbox_(outbox), interval_(interval), clock_(clock) {
  thread_ = std::thread([this] { Loop(); });
  // This process's publications only: where gateways share a bus, the gateway a task's worker
  // reports to adds its progress deliveries, once.
  subscription_ = bus.SubscribePublished([this](const TaskEvent& e) { OnEvent(e); });
}

WebhookProgressFeed::~WebhookProgressFeed() {
  subscription_.reset();
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void WebhookProgressFeed::OnEvent(const TaskEvent& event) {
  MutexLock lock(mu_);
  if (IsTerminalEvent(event.type)) {  // the task is done: forget it
    pending_.erase(event.task_id);
    last_sent_.erase(event.task_id);
    without_progress_webhook_.erase(event.task_id);
    return;
  }
  if (event.type != TaskEventType::kProgress || !event.progress) return;
  if (without_progress_webhook_.count(event.task_id)) return;
  auto last = last_sent_.find(event.task_id);
  Timestamp not_before = last == last_sent_.end() ? Timestamp{} : last->second + interval_;
  pending_[event.task_id] = Pending{*event.progress, not_before};
  cv_.notify_one();
}

void WebhookProgressFeed::Loop() {
  MutexLock lock(mu_);
  while (!stopping_) {
    const Timestamp now = clock_->Now();
    std::optional<Timestamp> next;
    std::vector<std::pair<std::string, TaskProgress>> due;
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.not_before <= now) {
        due.emplace_back(it->first, it->second.progress);
        last_sent_[it->first] = now;
        it = pending_.erase(it);
      } else {
        if (!next || it->second.not_before < *next) next = it->second.not_before;
        ++it;
      }
    }
    if (!due.empty()) {
      lock.Unlock();
      for (const auto& [task_id, progress] : due) Emit(task_id, progress);
      lock.Lock();
      continue;
    }
    if (next) {
      cv_.wait_for(lock.native(), std::chrono::duration_cast<Millis>(*next - now));
    } else {
      cv_.wait(lock.native());
    }
  }
}

void WebhookProgressFeed::Emit(const std::string& task_id, const TaskProgress& progress) {
  Result<Task> task = store_.Get(task_id);
  if (!task.ok()) return;
  if (task->state != TaskState::kRunning) return;  // its later events say the rest
  task->progress = progress;                       // the store's copy lags by a heartbeat
  std::optional<WebhookDelivery> d = DeliveryForProgress(*task, clock_->Now());
  if (!d) {
    MutexLock lock(mu_);
    without_progress_webhook_.insert(task_id);
    return;
  }
  if (Status s = outbox_.AddProgress(*d); !s.ok()) {
    LogWarn("webhook progress not queued", {{"task_id", task_id}, {"error", s.ToString()}});
  }
}

}  // namespace stipple::webhook
