// The Lua scripts of the Redis task store. Each runs atomically on the server (Redis runs one
// script at a time), so a script is the unit of atomicity: a task's hash and every index that
// mentions it change together or not at all. docs/redis.md describes the keys they use.
//
// Every script takes the key prefix as ARGV[1] and builds its key names from it (the store needs
// one Redis server or a primary with replicas, not Redis Cluster).
#pragma once

#include "store/redis/redis_client.h"

namespace stipple::redis::scripts {

// ARGV: prefix, id, tenant, idempotency key ('' none), fingerprint, now_ms, idem_expires_ms,
//       idem_ttl_ms, retention_ms, max_queued (0 none), tenant_max_queued (0 none), then the
//       task's fields as name, value pairs.
// → {1, queue position} created; {0, HGETALL of the original task} for a repeated key with the
//   same fingerprint; {2, 0 (max_queued) or 1 (tenant quota), queued, queue position of the
//   tenant's oldest queued task} refused by admission; error ALREADY_EXISTS for a used task id
//   or a key used with another fingerprint.
const Script& Enqueue();

// ARGV: prefix, id. → {HGETALL, queue position or -1}; error NOT_FOUND.
const Script& Get();

// ARGV: prefix, now_ms, worker_id, lease_expires_ms, max_tasks, models... (each once)
// → {{HGETALL of each leased task}, earliest not_before still ahead among the models' queued
//   tasks, or -1}.
const Script& Lease();

// Compare-and-set of a whole task. ARGV: prefix, id, expected version, retention_ms, fields as
// name, value pairs. → 1 saved (version + 1, indexes updated); 0 the version changed meanwhile;
// error NOT_FOUND.
const Script& Save();

// Save for several tasks at once (a worker's batch of completions), each on its own. ARGV:
// prefix, retention_ms, then per task: id, expected version, the number of field arguments
// that follow (2 per field), the fields as name, value pairs. → one integer per task, in order:
// 1 saved, 0 the version changed meanwhile, -1 no such task.
const Script& SaveBatch();

// ARGV: prefix, tenant ('' all), state ('' any), cursor ('' newest), count.
// → {{HGETALL, queue position or -1}, ...} newest first.
const Script& List();

// ARGV: prefix. → {{model, queued high, normal, low, running, oldest created_at or -1}, ...}.
const Script& Counts();

// ARGV: prefix, now_ms, limit. Drops idempotency keys past their expiry and purges terminal
// tasks past their retention. → {keys dropped, tasks purged}.
const Script& Housekeeping();

}  // namespace stipple::redis::scripts
