// TransportMetrics: the figures the HTTP server itself keeps — answered requests by route,
// method and code, open connections and WebSockets, connections refused at the cap, failed
// accepts. The API's HttpMetrics (api/metrics.h) extends it and renders it in /metrics.
// Thread-safe: the counters are atomics, the request counts are under a mutex; no call fails.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include "common/thread_annotations.h"

namespace stipple::http {

class TransportMetrics {
 public:
  // (route, method, status code) → requests answered.
  using RequestCounts = std::map<std::tuple<std::string, std::string, int>, uint64_t>;

  // One answered request; `route` is the matched pattern ("unmatched" for 404s of no route).
  void CountRequest(const std::string& route, const std::string& method, int status);
  // A copy of the counts so far.
  RequestCounts request_counts() const;

  // Open HTTP connections (WebSockets included); connections answered 503 at the connection
  // cap; failed accepts (the descriptor limit); open WebSockets.
  std::atomic<int64_t> connections{0};
  std::atomic<int64_t> connections_refused{0};
  std::atomic<int64_t> accept_errors{0};
  std::atomic<int64_t> ws_connections{0};

 private:
  mutable Mutex mu_;
  RequestCounts requests_ GUARDED_BY(mu_);
};

}  // namespace stipple::http
