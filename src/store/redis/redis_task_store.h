// RedisTaskStore: the distributed TaskStore — task records and queues in one Redis 7 server that
// every gateway shares (gateways keep no state of their own). It passes the same contract suite
// as the SQLite store (task_store_contract.h).
//
// Data layout (docs/redis.md has the full list): one hash per task; a sorted set per model and
// priority holding the queued task ids in id (= creation) order; sorted sets of running leases by
// expiry, of never-started tasks by ttl, of outputs by retention and of terminal records by purge
// time; listing indexes per tenant and state. Every change of a task and its indexes is one Lua
// script, so it is atomic. Leasing is one script (it picks and claims the tasks, so concurrent
// leases from any number of gateways never hand a task out twice). The other transitions load
// the task, apply the shared rules of store/transitions.h in C++ and save it with a
// compare-and-set script on the task's version, retrying when another gateway changed it first.
// A task whose request has a webhook also leaves a webhook intent (its hash, in the stream
// "<prefix>wh:intents") in the script that starts or ends it: the Redis webhook outbox
// (webhook/redis/redis_outbox.h) turns those into deliveries.
//
// Durability is Redis's: with `appendonly yes` and `appendfsync always` an acknowledged call
// survives a crash of Redis or of its machine; with `appendfsync everysec` (the default of
// docs/redis.conf.example) a crash of redis-server loses nothing acknowledged, a power cut may
// lose about the last second. Fencing numbers are at least the Redis server's clock in
// microseconds, so a counter rolled back by such a loss never hands out a number twice.
//
// Redis unreachable: every call returns kUnavailable within the connect and command timeouts,
// and the store recovers by itself once Redis answers again.
//
// Fewer round trips for running tasks: the store remembers the records of the tasks it leased
// (as the lease script returned them, then as its own saves left them), and a transition of such
// a task tries its compare-and-set on the remembered version without loading the task first.
// Nothing is decided on a remembered record alone: the save succeeds only if the version is still
// the one remembered (so the record is exactly what Redis holds), and a rule that refuses, or
// finds nothing to change, on a remembered record is checked again on a freshly loaded one. What
// was remembered before Redis restarted or failed over (the client opened its connections again)
// is never used, as such a restart may have rolled the data back.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/thread_annotations.h"
#include "store/redis/redis_client.h"
#include "store/redis/task_hash.h"
#include "store/transition_task_store.h"

namespace stipple {

struct RedisTaskStoreOptions {
  std::string url = "redis://127.0.0.1:6379/0";  // redis://[[user:]password@]HOST:PORT/DB
  std::string key_prefix = "stipple:";           // every key starts with it
  const Clock* clock = SystemClock::Get();
  Millis idempotency_ttl{24LL * 3600 * 1000};
  // How long a terminal task's record is kept (from its completion, and at least until its
  // outputs expired) before Reap deletes it. 0: forever.
  Millis task_retention{7LL * 24 * 3600 * 1000};
  Millis connect_timeout{1000};
  Millis command_timeout{5000};
  // A waiting Lease looks at the queue again at least this often, even without a wake-up.
  Millis max_lease_poll{250};
};

class RedisTaskStore final : public TransitionTaskStore {
 public:
  // Connects and checks the server (PING, Redis >= 6.2); kUnavailable when it cannot be reached.
  static Result<std::unique_ptr<RedisTaskStore>> Open(const RedisTaskStoreOptions& options);

  Result<EnqueueResult> Enqueue(const NewTask& nt) override;
  Result<Task> Get(const std::string& task_id) override;
  Result<std::vector<LeasedTask>> Lease(const LeaseRequest& request) override;
  Result<HeartbeatReply> Heartbeat(const std::string& task_id, uint64_t fencing,
                                   Millis lease_duration,
                                   std::optional<TaskProgress> progress) override;
  std::vector<Result<Task>> Complete(std::span<const Completion> completions) override;
  using TaskStore::Complete;
  Result<TaskPage> List(const ListQuery& query) override;
  Result<ReapReport> Reap() override;
  Result<std::vector<QueueCounts>> Counts() override;

 private:
  RedisTaskStore(RedisTaskStoreOptions options, redis::RedisUrl url);

  // Loads the task, lets `apply` change it and saves it with a compare-and-set on its version,
  // reloading and applying again when another call changed it first. `apply` returning an error
  // changes nothing. Sets *changed (when given) to whether anything was written.
  Result<Task> Transition(const std::string& task_id, const std::function<Status(Task&)>& apply,
                          bool* changed);
  Result<Task> Transition(const std::string& task_id,
                          const std::function<Status(Task&)>& apply) override {
    return Transition(task_id, apply, nullptr);
  }
  Result<redis::StoredTask> Load(const std::string& task_id);
  // One pass of the lease script: what it leased, and the earliest retry backoff still running.
  struct LeasePass {
    std::vector<LeasedTask> leased;
    std::optional<Timestamp> next_ready;
  };
  Result<LeasePass> LeaseOnce(const LeaseRequest& request, const std::vector<std::string>& models);
  // The remembered records of running tasks (see the header comment). Recall returns a copy,
  // only if it was remembered since the client's last reconnection; Remember keeps running
  // tasks only (and forgets the others); `connections` is client_.connections_opened() read
  // before the call that returned the record.
  std::optional<redis::StoredTask> Recall(const std::string& task_id);
  void Remember(const redis::StoredTask& stored, uint64_t connections);
  void Forget(const std::string& task_id);

  // Ids in the sorted set `index` whose score is at most now (at most `limit`).
  Result<std::vector<std::string>> DueIds(const std::string& index, Timestamp now, int limit);
  Timestamp Now() const override { return options_.clock->Now(); }

  const RedisTaskStoreOptions options_;
  redis::RedisClient client_;

  struct Remembered {
    redis::StoredTask stored;
    uint64_t connections = 0;  // client_.connections_opened() before the call that returned it
  };
  static constexpr size_t kMaxRemembered = 10'000;  // beyond it, everything is forgotten at once
  Mutex remembered_mu_;
  std::unordered_map<std::string, Remembered> remembered_ GUARDED_BY(remembered_mu_);
};

}  // namespace stipple
