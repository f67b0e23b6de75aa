// The task as the API shows it (API.md, "The task"): the body of GET /v1/tasks/{id}, of the
// create and cancel answers, and of terminal events and webhooks.
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>

#include "core/task.h"

namespace stipple {

// The task's JSON text, keys in a fixed order. `eta_s` is the caller's estimate of the time to
// completion; it is written only while the task is queued or running (null otherwise, and when
// not given). queue_position is written only while queued. outputs_expired is not shown: the
// output endpoint answers 410 instead.
std::string TaskToJson(const Task& task, std::optional<double> eta_s = std::nullopt);

// The object behind TaskToJson, for embedding (events, list pages) without re-parsing.
boost::json::object TaskToJsonObject(const Task& task, std::optional<double> eta_s = std::nullopt);

// "/v1/tasks/{id}" and the paths under it.
std::string TaskUrl(const std::string& task_id);
std::string TaskOutputUrl(const std::string& task_id, int index);

}  // namespace stipple
