#include "service/service_stack.h"

#include "service/transitions.h"

namespace stipple {

ServiceStack::ServiceStack(TaskStore& store, EventBus& bus, ResultStore& results, ServiceOptions o)
    : admission_(store, {.clock = o.clock,
                         .max_queue = o.max_queue,
                         .queue_full_retry_after = o.queue_full_retry_after,
                         .write_refusal_hold = o.write_refusal_hold}),
      workers_({.clock = o.clock, .stats_window = o.stats_window}),
      events_(store, bus, o.clock),
      tasks_(store, results, admission_, events_, workers_),
      work_(store, results, admission_, events_, workers_,
            {.clock = o.clock, .output_retention = o.output_retention}),
      housekeeper_(store, results,
                   [this](const Task& task) { AfterTransition(task, events_, workers_); },
                   {.clock = o.clock,
                    .reap_interval = o.reap_interval,
                    .output_sweep_interval = o.output_sweep_interval,
                    .thread = o.housekeeping_thread,
                    .lost_end_check_interval = o.lost_end_check_interval,
                    .check_lost_ends = [this] { return events_.RepairLostEnds(); }}) {}

ServiceStack::~ServiceStack() { Stop(); }

void ServiceStack::Drain() { admission_.Drain(); }

void ServiceStack::Stop() {
  admission_.Stop();
  housekeeper_.Stop();
}

Status ServiceStack::Housekeep() { return housekeeper_.Housekeep(); }

}  // namespace stipple
