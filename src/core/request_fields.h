// Reading a request's typed, range-checked fields out of a JSON object, collecting one
// FieldError per offending field instead of stopping at the first. The building blocks of
// ParseGenerationRequest; the messages are the API's ("must be an integer", "must be between 1
// and 150").
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace stipple::request_fields {

using Errors = std::vector<FieldError>;

// The shortest text that reads back as `d` ("30", "0.5").
std::string FormatNumber(double d);

// Unicode code points in valid UTF-8 (Boost.JSON's parser rejects invalid UTF-8).
size_t CountCodePoints(std::string_view s);

// A member's value, or null when the member is absent or JSON null (both mean "not given").
const boost::json::value* Find(const boost::json::object& object, std::string_view key);

// Each Read* returns nullopt when `v` is null (not given) or wrong (an error is added to
// `errors` naming `field`).
std::optional<std::string> ReadString(const boost::json::value* v, const std::string& field,
                                      Errors& errors);

// A JSON integer, or a double with an integral value (20.0), within [min, max].
std::optional<int64_t> ReadInteger(const boost::json::value* v, const std::string& field,
                                   int64_t min, int64_t max, Errors& errors);

// Any JSON number within [min, max].
std::optional<double> ReadNumber(const boost::json::value* v, const std::string& field, double min,
                                 double max, Errors& errors);

// An absolute http(s) URL with a non-empty host (and a valid port when one is given). No spaces,
// control or non-ASCII characters: a client percent-encodes those.
bool IsHttpUrl(std::string_view url);

}  // namespace stipple::request_fields
