// RedisEventBus: the EventBus of the distributed deployment. Every gateway process has one, over
// the Redis server the task store uses, so a subscriber on any gateway sees the events published
// by any other (a worker reports its progress to the gateway it is connected to; a client may be
// waiting on another).
//
// How (docs/redis.md, "Events"):
//  - Publish runs one script (event_scripts.h) that numbers the event, appends it to the task's
//    capped stream (state events and the terminal event always; the newest progress_kept
//    progress events) and PUBLISHes it on one channel, atomically. The script also applies the
//    ordering rules of the whole deployment (no `started` of an old lease, `retrying` before the
//    `started` that replaces it, nothing after the terminal event), since each process's
//    EventSequencer can only keep order among its own publications.
//  - A listener thread keeps a SUBSCRIBE connection and relays every message into a local
//    InMemoryEventBus (the mirror), which delivers to this process's subscribers with the
//    EventBus contract (one delivery thread, handles, backlogs). Subscribe first loads the task's
//    stream into the mirror, so a subscriber gets the task's held events (Last-Event-ID replay)
//    and then the live ones, each once, in seq order.
//  - Pub/sub delivers at most once: when a relayed event's seq skips ahead of what the mirror
//    holds for a followed task, or after the listener reconnects, the missing events are read
//    from the stream. All-task subscribers (no replay by contract) may miss events published
//    while the listener was disconnected.
//  - Progress is coalesced: per task at most one progress event per progress_interval (those
//    with a preview always), so a fast GPU's hundreds of steps per second cost Redis tens of
//    script runs; subscribers see the newest step, as the contract allows ("progress may be
//    thinned").
//  - Redis down: Publish logs and answers seq 0 (the transition it reports could not have been
//    stored either); Subscribe falls back to the mirror alone; the listener reconnects with
//    backoff (100 ms doubling to 2 s) and catches up.
//
// Thread-safe, like every EventBus. Every handle must be destroyed before the bus.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/thread_annotations.h"
#include "notify/in_memory_event_bus.h"
#include "store/redis/redis_client.h"

namespace stipple {

struct RedisEventBusOptions {
  std::string key_prefix = "stipple:";        // the task store's prefix, so one FLUSH covers both
  int progress_kept = 32;                     // progress events held per task in Redis and here
  Millis terminal_retention{10 * 60 * 1000};  // a finished task's events stay this long
  Millis live_retention{7LL * 24 * 3600 * 1000};  // a safety net for tasks that never end
  // A task's progress events are published at most once per interval from this process (each
  // costs Redis a script run and every gateway a message); one that carries a preview always
  // goes. 0: every one.
  Millis progress_interval{50};
  const Clock* clock = SystemClock::Get();
};

class RedisEventBus final : public EventBus {
 public:
  // Connects to the server `client` names (a pool for publishing and reading streams, plus the
  // listener's connection, made in the background: see WaitConnected).
  RedisEventBus(redis::RedisClientOptions client, RedisEventBusOptions options = {});
  ~RedisEventBus() override;  // stops the listener; all handles must be gone
  RedisEventBus(const RedisEventBus&) = delete;
  RedisEventBus& operator=(const RedisEventBus&) = delete;

  TaskEvent Publish(const std::string& tenant, TaskEvent event) override;
  // The publish scripts of the batch in one pipeline (one round trip).
  std::vector<TaskEvent> PublishBatch(std::vector<TenantEvent> events) override;
  bool Seed(const std::string& tenant, std::vector<TaskEvent> history) override;
  std::unique_ptr<Subscription> Subscribe(const std::string& task_id, int64_t after_seq,
                                          TaskEventCallback on_event) override;
  std::unique_ptr<Subscription> SubscribeAll(const std::string& tenant,
                                             TaskEventCallback on_event) override;
  // Through a second in-process bus fed by Publish (after Redis numbered the event).
  std::unique_ptr<Subscription> SubscribePublished(TaskEventCallback on_event) override;
  std::unique_ptr<Subscription> Deliver(std::vector<TaskEvent> events,
                                        TaskEventCallback on_event) override;
  std::optional<TaskEvent> TerminalEvent(const std::string& task_id) override;

  // Waits up to `timeout` for the listener to be subscribed and caught up; true once it is.
  bool WaitConnected(Millis timeout);
  size_t subscribers() const { return mirror_.subscribers(); }
  size_t tasks_held() const { return mirror_.tasks_held(); }

 private:
  struct Held {
    std::string tenant;
    std::vector<TaskEvent> events;
  };
  // The task's held events with from <= seq <= to (to 0: to the newest), and its tenant.
  Result<Held> Fetch(const std::string& task_id, int64_t from, int64_t to);
  // The publish script's ARGV for `event`.
  std::vector<std::string> PublishArgs(const std::string& tenant, const TaskEvent& event) const;
  // Relays the held events of a followed task newer than `after` (up to `to`).
  void CatchUp(const std::string& task_id, int64_t after, int64_t to) REQUIRES(relay_mu_);
  void Relay(std::string_view message) EXCLUDES(relay_mu_);  // one pub/sub message
  void ListenLoop();
  void Listen();  // one connection's life

  redis::RedisClient client_;
  const RedisEventBusOptions options_;
  const std::string channel_;
  InMemoryEventBus mirror_;
  InMemoryEventBus published_;  // this process's publications, for SubscribePublished
  Mutex relay_mu_;              // one relay (or one Subscribe's load) at a time

  // Progress coalescing: when this process last published a progress event of each task.
  bool ProgressDue(const TaskEvent& event) EXCLUDES(progress_mu_);  // records the time when it is
  Mutex progress_mu_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> last_progress_
      GUARDED_BY(progress_mu_);
  int publications_ GUARDED_BY(progress_mu_) = 0;  // for the periodic sweep of last_progress_

  Mutex listen_mu_;
  std::condition_variable listen_cv_;
  bool stopping_ GUARDED_BY(listen_mu_) = false;
  bool connected_ GUARDED_BY(listen_mu_) = false;
  int listen_fd_ GUARDED_BY(listen_mu_) = -1;  // the listener's socket, to cut on stop
  std::thread listener_;
};

}  // namespace stipple
