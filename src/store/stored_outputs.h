// How the task stores keep a task's request and outputs as text: the edge where both stores'
// bytes meet the core's codecs. The request is GenerationRequestToJson's object as compact JSON
// (the SQLite `request` column, the Redis hash's `request` field); the outputs one JSON array of
// {index, content_type, width, height, seed, size_bytes, etag} (the `outputs` column and field).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "core/generation_request.h"
#include "core/task.h"

namespace stipple {

// The request's stored text, and the request read back from it (kDataLoss when the text is not
// a JSON object; the fields are read leniently, see GenerationRequestFromJson).
std::string StoredRequestToJson(const GenerationRequest& request);
Result<GenerationRequest> StoredRequestFromJson(std::string_view text);

// The array; "" for no outputs.
std::string StoredOutputsToJson(const std::vector<TaskOutput>& outputs);

// The outputs read back ("" → none); kDataLoss when the text is not such an array.
Result<std::vector<TaskOutput>> StoredOutputsFromJson(std::string_view text);

}  // namespace stipple
