#include "http/transport_metrics.h"

namespace stipple::http {

void TransportMetrics::CountRequest(const std::string& route, const std::string& method,
                                    int status) {
  MutexLock lock(mu_);
  ++requests_[{route, method, status}];
}

TransportMetrics::RequestCounts TransportMetrics::request_counts() const {
  MutexLock lock(mu_);
  return requests_;
}

}  // namespace stipple::http
