// HeldRequests: the requests held open by Prefer: wait (GET and POST /v1/tasks, the
// OpenAI-compatible endpoint), counted per tenant and per client address against their bounds,
// so that one client cannot tie up the server's connections with waits. Thread-safe.
//
//   Result<HeldRequests::Slot> slot = held.Acquire(tenant, peer_address);
//   if (!slot.ok()) ... answer 429 (kResourceExhausted names the bound) ...
//   ... keep *slot while the request is held; dropping the last copy releases it ...
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"

namespace stipple::http {

class HeldRequests {
 public:
  // 0: no bound.
  HeldRequests(int max_per_tenant, int max_per_address)
      : max_per_tenant_(max_per_tenant), max_per_address_(max_per_address) {}

  using Slot = std::shared_ptr<void>;

  // One more held request of `tenant` from `address` ("" when unknown: counted for the tenant
  // only). kResourceExhausted when either bound is reached. The HeldRequests must outlive the
  // slot.
  Result<Slot> Acquire(const std::string& tenant, const std::string& address);

 private:
  void Release(const std::string& tenant, const std::string& address);

  const int max_per_tenant_;
  const int max_per_address_;
  mutable std::mutex mu_;
  std::map<std::string, int, std::less<>> tenants_;    // GUARDED_BY(mu_)
  std::map<std::string, int, std::less<>> addresses_;  // GUARDED_BY(mu_)
};

}  // namespace stipple::http
