// HeldRequests: requests held open, counted per tenant and per client address against their
// bounds, so that one client cannot tie up the server's connections. The gateway keeps one for
// the requests held by Prefer: wait (GET and POST /v1/tasks, the OpenAI-compatible endpoint) and
// one for the event streams (SSE and WebSockets). Thread-safe.
//
//   Result<HeldRequests::Slot> slot = held.Acquire(tenant, peer_address);
//   if (!slot.ok()) ... answer 429 (kResourceExhausted names the bound) ...
//   ... keep *slot while the request is held; dropping the last copy releases it ...
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "common/status.h"
#include "common/thread_annotations.h"

namespace stipple::http {

class HeldRequests {
 public:
  // 0: no bound. A refusal reads "<tenant T | client address A> already holds <N> <what>,
  // its limit; <advice>".
  HeldRequests(int max_per_tenant, int max_per_address, std::string what, std::string advice)
      : max_per_tenant_(max_per_tenant),
        max_per_address_(max_per_address),
        what_(std::move(what)),
        advice_(std::move(advice)) {}

  using Slot = std::shared_ptr<void>;

  // One more held request of `tenant` from `address` ("" when unknown: counted for the tenant
  // only). kResourceExhausted when either bound is reached. The HeldRequests must outlive the
  // slot.
  Result<Slot> Acquire(const std::string& tenant, const std::string& address);

 private:
  void Release(const std::string& tenant, const std::string& address);

  const int max_per_tenant_;
  const int max_per_address_;
  const std::string what_;
  const std::string advice_;
  mutable Mutex mu_;
  std::map<std::string, int, std::less<>> tenants_ GUARDED_BY(mu_);
  std::map<std::string, int, std::less<>> addresses_ GUARDED_BY(mu_);
};

}  // namespace stipple::http
