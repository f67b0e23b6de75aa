// How a TaskEvent is written into Redis (the per-task stream and the pub/sub messages of
// RedisEventBus): one JSON object, the seq left out (the stream entry's id carries it).
//   {"type", "task_id", "time" (Unix ms), "attempt", "worker", "fencing" (a string: it exceeds
//    a double's exact range in Lua), "step", "steps", "preview" (base64), "task" (the task's
//    Redis hash fields, see store/redis/task_hash.h)}
// Keys that do not apply are left out. The publish script writes one event itself (the
// `retrying` it puts before a `started`), so the layout is shared with redis_event_scripts.cc.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "core/task_event.h"

namespace stipple::redis {

std::string EncodeEvent(const TaskEvent& event);

// The event written by EncodeEvent (or by the publish script), numbered `seq`. kDataLoss when the
// text is not such an event.
Result<TaskEvent> DecodeEvent(std::string_view json, int64_t seq);

}  // namespace stipple::redis
