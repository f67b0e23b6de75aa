// How the task stores keep a task's outputs: one JSON array of {index, content_type, width,
// height, seed, size_bytes, etag} (the SQLite `outputs` column, the Redis hash's `outputs` field).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "core/task.h"

namespace stipple {

// The array; "" for no outputs.
std::string StoredOutputsToJson(const std::vector<TaskOutput>& outputs);

// The outputs read back ("" → none); kDataLoss when the text is not such an array.
Result<std::vector<TaskOutput>> StoredOutputsFromJson(std::string_view text);

}  // namespace stipple
