#include "http/route_table.h"

#include <algorithm>

namespace stipple::http {
namespace {

// The segments between slashes; "/a/b" → {"a", "b"}, "/" → {""}.
std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path.front() != '/') return out;
  path.remove_prefix(1);
  while (true) {
    size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

}  // namespace

bool MatchPattern(std::string_view pattern, std::string_view path,
                  std::map<std::string, std::string, std::less<>>* params) {
  std::vector<std::string_view> want = Segments(pattern);
  std::vector<std::string_view> got = Segments(path);
  if (want.empty() || want.size() != got.size()) return false;
  std::map<std::string, std::string, std::less<>> found;
  for (size_t i = 0; i < want.size(); ++i) {
    std::string_view w = want[i];
    if (w.size() > 2 && w.front() == '{' && w.back() == '}') {
      if (got[i].empty()) return false;
      found.emplace(std::string(w.substr(1, w.size() - 2)), std::string(got[i]));
    } else if (w != got[i]) {
      return false;
    }
  }
  if (params) *params = std::move(found);
  return true;
}

void RouteTable::Add(Route route) { routes_.push_back(std::move(route)); }

RouteTable::Match RouteTable::Find(std::string_view method, std::string_view path) const {
  Match match;
  for (const Route& route : routes_) {
    std::map<std::string, std::string, std::less<>> params;
    if (!MatchPattern(route.pattern, path, &params)) continue;
    if (route.method == method) {
      match.route = &route;
      match.params = std::move(params);
      match.allowed.clear();
      return match;
    }
    if (std::find(match.allowed.begin(), match.allowed.end(), route.method) ==
        match.allowed.end()) {
      match.allowed.push_back(route.method);
    }
  }
  return match;
}

}  // namespace stipple::http
