#include "http/transport_metrics.h"

namespace stipple::http {

void TransportMetrics::CountRequest(const std::string& route, const std::string& method,
                                    int status) {
  std::lock_guard lock(mu_);
  ++requests_[{route, method, status}];
}

TransportMetrics::RequestCounts TransportMetrics::request_counts() const {
  std::lock_guard lock(mu_);
  return requests_;
}

}  // namespace stipple::http
