// RedisResultStore: the images of finished tasks as binary values in Redis, for the distributed
// deployment where every gateway must serve any task's outputs. Suited to small images (the
// shipped model's are a few hundred bytes to a few kilobytes); large outputs belong in an object
// store.
//
// Layout (prefix "stipple:" by default): one hash per output, "<prefix>out:<task>:<fencing>:<i>",
// with fields sha256 and data, and a set per task, "<prefix>outs:<task>", naming its outputs as
// "<fencing>:<i>" so that DeleteLease and Delete find them. Put writes both in one Lua script
// (atomic: a reader sees the old record or the new one, never part of one).
//
// TTL: every key gets a Redis expiry of `ttl` (refreshed by each Put of the task). It is a safety
// net, not the retention policy: set it longer than the service's output retention, which deletes
// the outputs itself when TaskStore::Reap reports them expired; the TTL only bounds how long the
// bytes of a task whose record was lost or never completed can stay in memory.
//
// Durability is the server's (see docs/redis.md): appendfsync always makes an acknowledged Put
// survive a crash of Redis or its machine; everysec survives a crash of redis-server.
#pragma once

#include <memory>
#include <string>

#include "results/result_store.h"
#include "store/redis/redis_client.h"

namespace stipple {

struct RedisResultStoreOptions {
  std::string url = "redis://127.0.0.1:6379/0";
  std::string key_prefix = "stipple:";
  Millis ttl{7LL * 24 * 3600 * 1000};  // 0: no expiry
  Millis connect_timeout{1000};
  Millis command_timeout{5000};
};

class RedisResultStore final : public ResultStore {
 public:
  // Connects and PINGs; kUnavailable when the server cannot be reached.
  static Result<std::unique_ptr<RedisResultStore>> Open(const RedisResultStoreOptions& options);

  Result<StoredOutput> Put(const std::string& task_id, uint64_t fencing, int index,
                           std::string_view bytes) override;
  Result<OutputBytes> Get(const std::string& task_id, uint64_t fencing, int index) override;
  Status DeleteLease(const std::string& task_id, uint64_t fencing) override;
  Status Delete(const std::string& task_id) override;

  // The key holding one output (for tests and operators).
  std::string OutputKey(const std::string& task_id, uint64_t fencing, int index) const;

 private:
  RedisResultStore(RedisResultStoreOptions options, redis::RedisUrl url);

  const RedisResultStoreOptions options_;
  redis::RedisClient client_;
};

}  // namespace stipple
