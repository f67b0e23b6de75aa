#include "core/request_fields.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

namespace stipple::request_fields {
namespace {

namespace json = boost::json;

// JSON integers, and doubles with an integral value (20.0); clamped to int64 so that a huge value
// reads as out of range rather than as a wrong type.
std::optional<int64_t> AsInteger(const json::value& v) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) return v.get_uint64() > static_cast<uint64_t>(kMax) ? kMax : v.get_uint64();
  if (v.is_double()) {
    double d = v.get_double();
    if (!std::isfinite(d) || std::floor(d) != d) return std::nullopt;
    if (d >= 9.2e18) return kMax;
    if (d <= -9.2e18) return kMin;
    return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

}  // namespace

std::string FormatNumber(double d) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, end);
}

// Bytes that are not UTF-8 continuation bytes.
size_t CountCodePoints(std::string_view s) {
  return std::count_if(s.begin(), s.end(),
                       [](char c) { return (static_cast<uint8_t>(c) & 0xC0) != 0x80; });
}

const json::value* Find(const json::object& object, std::string_view key) {
  auto it = object.find(key);
  if (it == object.end() || it->value().is_null()) return nullptr;
  return &it->value();
}

std::optional<std::string> ReadString(const json::value* v, const std::string& field,
                                      Errors& errors) {
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) {
    errors.push_back({field, "must be a string"});
    return std::nullopt;
  }
  return std::string(v->get_string());
}

std::optional<int64_t> ReadInteger(const json::value* v, const std::string& field, int64_t min,
                                   int64_t max, Errors& errors) {
  if (v == nullptr) return std::nullopt;
  std::optional<int64_t> n = AsInteger(*v);
  if (!n) {
    errors.push_back({field, "must be an integer"});
  } else if (*n < min || *n > max) {
    errors.push_back(
        {field, "must be between " + std::to_string(min) + " and " + std::to_string(max)});
    n.reset();
  }
  return n;
}

std::optional<double> ReadNumber(const json::value* v, const std::string& field, double min,
                                 double max, Errors& errors) {
  if (v == nullptr) return std::nullopt;
  if (!v->is_number()) {
    errors.push_back({field, "must be a number"});
    return std::nullopt;
  }
  double d = v->to_number<double>();
  if (!(d >= min && d <= max)) {
    errors.push_back({field, "must be between " + FormatNumber(min) + " and " + FormatNumber(max)});
    return std::nullopt;
  }
  return d;
}

bool IsHttpUrl(std::string_view url) {
  for (char c : url) {
    auto b = static_cast<uint8_t>(c);
    if (b <= 0x20 || b >= 0x7F) return false;
  }
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return false;
  std::string scheme(url.substr(0, scheme_end));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](char c) { return std::tolower(c); });
  if (scheme != "http" && scheme != "https") return false;
  std::string_view authority = url.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (size_t at = authority.rfind('@'); at != std::string_view::npos)
    authority.remove_prefix(at + 1);
  std::string_view host = authority;
  std::string_view port;
  bool has_port = false;
  if (authority.starts_with('[')) {  // IPv6 literal
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return false;
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return false;
      has_port = true;
      port = after.substr(1);
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    has_port = true;
  }
  if (host.empty()) return false;
  if (has_port) {
    int value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || port.size() > 5 || ec != std::errc() || end != port.data() + port.size() ||
        value < 1 || value > 65535) {
      return false;
    }
  }
  return true;
}

}  // namespace stipple::request_fields
