// The JSON codec of a normalized GenerationRequest: the one writer and the one reader of the
// "request" object, on parsed values. Every side uses this pair: the task stores (SQLite's
// `request` column, the Redis hash's `request` field), the worker protocol's leases, the API's
// task object (core/task_json.h) and the client that reads it back. Text exists only where
// bytes come in or go out (WriteJson / ParseJsonObject in core/json.h, at that edge).
//
// Client-written bodies are not read here: ParseGenerationRequest (generation_request.h)
// validates and normalizes those.
#pragma once

#include <boost/json/object.hpp>

#include "core/generation_request.h"

namespace stipple {

// The request with every field present (API.md's "request"), keys in a fixed order.
// ParseGenerationRequest(WriteJson(GenerationRequestToJson(r))) == r for a normalized r.
boost::json::object GenerationRequestToJson(const GenerationRequest& request);

// Reads back what GenerationRequestToJson wrote (a stored, already normalized request) without
// checking it against a catalog: a task stays readable after its model is removed. Lenient, so
// that requests stored by older versions still read: a field that is absent, of the wrong type
// or outside its type's range reads as its default. Never fails.
GenerationRequest GenerationRequestFromJson(const boost::json::object& object);

}  // namespace stipple
