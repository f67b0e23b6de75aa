// How a Task is kept in Redis: one hash per task ("<prefix>task:<id>"), one field per column, every
// field always present (an empty value is "none"). The Lua scripts read a few fields by name
// (state, model, priority, tenant, not_before, expires_at, started_at, lease_expires_at,
// outputs_expire_at, outputs_expired, attempts, fencing, v), so these names are part of the data
// layout documented in docs/redis.md.
#pragma once

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/status.h"
#include "core/task.h"
#include "store/redis/redis_client.h"

namespace stipple::redis {

// Every field of the task's hash, as (name, value) pairs, without the version field "v".
std::vector<std::pair<std::string, std::string>> TaskToFields(const Task& task);

// A task read back from HGETALL's flat [name, value, name, value, ...] array, with its version.
struct StoredTask {
  Task task;
  int64_t version = 0;
};
Result<StoredTask> TaskFromHash(const redisReply& flat);
// The same from a name → value map (TaskToFields' pairs plus "v").
Result<StoredTask> TaskFromFields(const std::unordered_map<std::string, std::string>& fields);

}  // namespace stipple::redis
