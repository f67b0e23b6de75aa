#include "api/held_requests.h"

namespace stipple::http {

Result<HeldRequests::Slot> HeldRequests::Acquire(const std::string& tenant,
                                                 const std::string& address) {
  {
    MutexLock lock(mu_);
    int& by_tenant = tenants_[tenant];
    int* by_address = address.empty() ? nullptr : &addresses_[address];
    auto refuse = [&](const std::string& who, int bound) REQUIRES(mu_) -> Status {
      if (by_tenant == 0) tenants_.erase(tenant);
      if (by_address != nullptr && *by_address == 0) addresses_.erase(address);
      return ResourceExhaustedError(who + " already holds " + std::to_string(bound) + " " + what_ +
                                    ", its limit; " + advice_);
    };
    if (max_per_tenant_ > 0 && by_tenant >= max_per_tenant_) {
      return refuse("tenant " + tenant, max_per_tenant_);
    }
    if (by_address != nullptr && max_per_address_ > 0 && *by_address >= max_per_address_) {
      return refuse("client address " + address, max_per_address_);
    }
    ++by_tenant;
    if (by_address != nullptr) ++*by_address;
  }
  return Slot(static_cast<void*>(this),
              [this, tenant, address](void*) { Release(tenant, address); });
}

void HeldRequests::Release(const std::string& tenant, const std::string& address) {
  MutexLock lock(mu_);
  if (auto it = tenants_.find(tenant); it != tenants_.end() && --it->second <= 0) {
    tenants_.erase(it);
  }
  if (address.empty()) return;
  if (auto it = addresses_.find(address); it != addresses_.end() && --it->second <= 0) {
    addresses_.erase(it);
  }
}

}  // namespace stipple::http
