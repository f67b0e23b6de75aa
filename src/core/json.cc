#include "core/json.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <cmath>
#include <vector>

namespace stipple {
namespace {

namespace json = boost::json;

void AppendDouble(double d, std::string& out) {
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  std::string_view text(buf, end - buf);
  out += text;
  // Keep it a double when read back: "4" → "4.0" (an exponent already makes it one).
  if (text.find_first_of(".e") == std::string_view::npos) out += ".0";
}

void Append(const json::value& value, bool sort_keys, std::string& out) {
  switch (value.kind()) {
    case json::kind::double_: AppendDouble(value.get_double(), out); return;
    case json::kind::array: {
      out += '[';
      bool first = true;
      for (const json::value& element : value.get_array()) {
        if (!first) out += ',';
        first = false;
        Append(element, sort_keys, out);
      }
      out += ']';
      return;
    }
    case json::kind::object: {
      std::vector<const json::key_value_pair*> members;
      for (const json::key_value_pair& member : value.get_object()) members.push_back(&member);
      if (sort_keys) {
        std::sort(members.begin(), members.end(), [](const auto* a, const auto* b) {
          return std::string_view(a->key()) < std::string_view(b->key());
        });
      }
      out += '{';
      bool first = true;
      for (const json::key_value_pair* member : members) {
        if (!first) out += ',';
        first = false;
        out += json::serialize(member->key());
        out += ':';
        Append(member->value(), sort_keys, out);
      }
      out += '}';
      return;
    }
    default:  // null, bool, integers, string: Boost.JSON's text is already canonical.
      out += json::serialize(value);
      return;
  }
}

}  // namespace

std::string WriteJson(const json::value& value) {
  std::string out;
  Append(value, /*sort_keys=*/false, out);
  return out;
}

std::string WriteCanonicalJson(const json::value& value) {
  std::string out;
  Append(value, /*sort_keys=*/true, out);
  return out;
}

Result<json::object> ParseJsonObject(std::string_view text) {
  boost::system::error_code ec;
  try {
    json::value value = json::parse(text, ec);
    if (ec) return InvalidArgumentError("is not JSON: " + ec.message());
    if (!value.is_object()) return InvalidArgumentError("is not a JSON object");
    return std::move(value.get_object());
  } catch (const std::exception& e) {  // out of memory or similar
    return InternalError(std::string("reading JSON: ") + e.what());
  }
}

json::object ParseJsonObjectOrEmpty(std::string_view text) {
  boost::system::error_code ec;
  try {
    json::value value = json::parse(text, ec);
    if (!ec && value.is_object()) return std::move(value.get_object());
  } catch (const std::exception&) {
    // Out of memory or similar: the contract is an empty object.
  }
  return {};
}

}  // namespace stipple
