// WebhookProgressFeed: turns the event bus's progress events into progress deliveries for the
// tasks whose webhook asks for "progress", at most one per task per `interval` (the newest
// progress wins). Progress is not a state change, so these deliveries are not part of a
// transition's transaction; a task's later events supersede an undelivered one.
//
// Threads: the bus's delivery thread calls OnEvent, which only records the newest progress per
// task under mu_; the feed's own thread (started by the constructor, joined by the destructor)
// looks each due task up in the store and adds its delivery to the outbox, without mu_ held.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "common/thread_annotations.h"
#include "core/subscription.h"
#include "notify/event_bus.h"
#include "store/task_store.h"
#include "webhook/outbox.h"

namespace stipple::webhook {

class WebhookProgressFeed {
 public:
  // All three must outlive the feed.
  WebhookProgressFeed(EventBus& bus, TaskStore& store, WebhookOutbox& outbox, Millis interval,
                      const Clock* clock = SystemClock::Get());
  ~WebhookProgressFeed();  // unsubscribes and stops the thread

 private:
  struct Pending {
    TaskProgress progress;
    Timestamp not_before;
  };
  void OnEvent(const TaskEvent& event);
  void Loop();
  void Emit(const std::string& task_id, const TaskProgress& progress);

  TaskStore& store_;
  WebhookOutbox& outbox_;
  const Millis interval_;
  const Clock* clock_;
  Mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Pending> pending_ GUARDED_BY(mu_);  // newest progress per task
  std::map<std::string, Timestamp> last_sent_ GUARDED_BY(mu_);
  std::set<std::string> without_progress_webhook_ GUARDED_BY(mu_);  // looked up, not wanted
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;
  std::unique_ptr<Subscription> subscription_;
};

}  // namespace stipple::webhook
