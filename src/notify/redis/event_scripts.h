// The Lua scripts of RedisEventBus. Each runs atomically on the server, so numbering a task's
// event, holding it and publishing it to every gateway happen together, in one order shared by
// all processes. Keys (docs/redis.md, "Events across gateways"):
//   <prefix>evm:<task>  hash: seq (newest), tenant, qt (the `queued` event's time: that event is
//                       rebuilt from it, so a task that only waits costs no stream), term ("1"
//                       once the terminal event is out) and te (that event), hist (then: the
//                       state changes the stream held, "<seq>\n<event>" lines), fencing /
//                       attempt of the newest lease published, back ("1": its `retrying` is out)
//   <prefix>ev:<task>   stream of the events between `queued` and the end, entry id "<seq>-0",
//                       field e = the event (event_codec.h); deleted at the terminal event, its
//                       state changes kept in the hash (hist)
//   <prefix>evp:<task>  list of the seqs of the progress events still in the stream, oldest first
//   <prefix>events      pub/sub channel; message "<tenant>\n<seq>\n<event>"
#pragma once

#include "store/redis/redis_client.h"

namespace stipple::redis::event_scripts {

// Numbers, holds and publishes one event, applying the rules every process's publications must
// follow together (what one process's ledger does for itself, see EventSequencer):
//  - nothing after the terminal event; `queued` only as the first event;
//  - `started` of lease F only when F is newer than the last published lease; when that one's
//    `retrying` is not out yet, a `retrying` (its attempt) is published first;
//  - `retrying` of lease F unless a newer lease was published or F's `retrying` is out;
//  - `progress` only under the last published lease while it runs; the oldest progress entries
//    beyond progress_kept are deleted from the stream;
//  - the terminal event moves the stream's state changes into the hash (hist), deletes the
//    stream and its progress, and sets the retention on the hash; the first event
//    sets live_ttl.
// ARGV: prefix, task id, tenant, type, fencing, attempt, time_ms, event, progress_kept,
//       live_ttl_ms, retention_ms.
// → the event's seq; 0 when it was dropped.
const Script& Publish();

// Gives a task the caller's history when Redis holds nothing of it.
// ARGV: prefix, task id, tenant, live_ttl_ms, retention_ms, then per event: seq, type, fencing,
//       attempt, time_ms, event. → 1 seeded; 0 Redis holds events of the task already.
const Script& Seed();

}  // namespace stipple::redis::event_scripts
