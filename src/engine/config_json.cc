#include "engine/config_json.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <system_error>

namespace stipple {

Result<boost::json::object> ParseConfigObject(std::string_view text, std::string_view file_name) {
  std::error_code ec;
  boost::json::value root = boost::json::parse(text, ec);
  if (ec) return InvalidArgumentError(std::string(file_name) + ": not valid JSON: " + ec.message());
  if (!root.is_object()) {
    return InvalidArgumentError(std::string(file_name) + ": must hold a JSON object");
  }
  return std::move(root.as_object());
}

}  // namespace stipple
