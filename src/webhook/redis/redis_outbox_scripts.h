// The Lua scripts of the Redis webhook outbox. Like the task store's, each runs atomically on the
// server and builds its key names from the prefix in ARGV[1]; docs/redis.md describes the keys.
// Delivery states are DeliveryState numbers (0 pending, 1 delivered, 2 failed, 3 dropped).
#pragma once

#include "store/redis/redis_client.h"

namespace stipple::webhook::redis_scripts {

// ARGV: prefix, retention_ms, then per intent: stream id, and either "0" (no delivery: drop the
// intent) or "1", id, task_id, event, url, host, created_ms, payload.
// Each intent still in the stream is deleted and its delivery stored — unless the task answered
// 410, or it is a progress delivery and the task already has its terminal one. → stored count.
const redis::Script& Materialize();

// ARGV: prefix, now_ms, limit, lease_until_ms, owner, check_intents, busy hosts...
// With check_intents "1" and intents waiting in the stream: → -1, nothing done (materialize
// first). Otherwise claims given up by owners that stopped renewing (lease_until <= now) become
// due again; then up to `limit` due task heads not of a busy host, earliest first, are claimed
// for `owner`. → {{{id, task_id, event, url, host, payload, created_ms, attempts}, ...},
// what NextDue would answer now}.
const redis::Script& Claim();

// ARGV: prefix, owner, retention_ms, then per outcome: id, state, attempts, next_ms ('' unless
// pending), gone ("1"/"0"), attempt record. Outcomes of deliveries whose claim `owner` no longer
// holds are ignored. → the ids whose outcome was applied.
const redis::Script& Record();

// ARGV: prefix, owner, lease_until_ms, ids... Extends the claims `owner` still holds.
// → the ids it no longer holds.
const redis::Script& Renew();

// ARGV: prefix, owner, ids... Gives back the claims `owner` holds: due again at once.
const redis::Script& Release();

// ARGV: prefix. → the earliest next attempt among waiting deliveries and claims that will lapse,
// or -1.
const redis::Script& NextDue();

// ARGV: prefix, task_id. → {{id, HGETALL delivery, HGETALL attempts}, ...} oldest first.
const redis::Script& ForTask();

}  // namespace stipple::webhook::redis_scripts
