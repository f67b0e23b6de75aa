// stipple's JSON conventions on top of Boost.JSON: how every API object is written as text.
//
// Boost.JSON writes 4.0 as "4E0"; WriteJson writes the shortest text that reads back as the same
// double ("4.0", "0.1", "1e+300"), so API bodies read the way people expect. Keys keep their
// insertion order, which gives each API object a fixed key order.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <string_view>

#include "common/status.h"

namespace stipple {

// Compact JSON text. Non-finite doubles (which JSON cannot hold) are written as null.
std::string WriteJson(const boost::json::value& value);

// Compact JSON text with every object's keys sorted by their UTF-8 bytes, recursively: equal
// documents give equal text whatever their key order or whitespace.
std::string WriteCanonicalJson(const boost::json::value& value);

// Parses text that must hold one JSON object: the edge where bytes come in. kInvalidArgument
// "is not JSON: <why>" or "is not a JSON object" otherwise (callers say what the text was, and
// may answer another code, e.g. kDataLoss for stored bytes). Never throws.
Result<boost::json::object> ParseJsonObject(std::string_view text);

// Parses a JSON object stored as text (e.g. GenerationRequest::metadata_json); an empty object
// when the text is not a JSON object. Never throws.
boost::json::object ParseJsonObjectOrEmpty(std::string_view text);

}  // namespace stipple
