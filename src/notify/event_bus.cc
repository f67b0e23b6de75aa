#include "notify/event_bus.h"

namespace stipple {

std::vector<TaskEvent> EventBus::PublishBatch(std::vector<TenantEvent> events) {
  std::vector<TaskEvent> published;
  published.reserve(events.size());
  for (TenantEvent& e : events) published.push_back(Publish(e.tenant, std::move(e.event)));
  return published;
}

}  // namespace stipple
