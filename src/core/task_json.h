// The task as the API shows it (API.md, "The task"): the body of GET /v1/tasks/{id}, of the
// create and cancel answers, of list pages, terminal events and webhooks. One pair of functions
// on parsed values: the gateway writes with TaskToJson, the client reads with TaskFromJson.
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>

#include "common/status.h"
#include "core/task.h"

namespace stipple {

// The task's object, keys in a fixed order. `eta_s` is the caller's estimate of the time to
// completion; it is written only while the task is queued or running (null otherwise, and when
// not given). queue_position is written only while queued. outputs_expired is not shown: the
// output endpoint answers 410 instead. Text: WriteJson (core/json.h).
boost::json::object TaskToJson(const Task& task, std::optional<double> eta_s = std::nullopt);

// Reads back what TaskToJson wrote. Lenient where the API may grow: unknown members are
// ignored, absent optional ones stay empty; the fields the API does not show (tenant, lease,
// idempotency key, output sizes and etags) stay empty, and eta_s is the caller's to read.
// kDataLoss naming the member when id or status is missing, or an output has no index.
Result<Task> TaskFromJson(const boost::json::object& object);

// "/v1/tasks/{id}" and the paths under it.
std::string TaskUrl(const std::string& task_id);
std::string TaskOutputUrl(const std::string& task_id, int index);

}  // namespace stipple
