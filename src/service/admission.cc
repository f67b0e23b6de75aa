#include "service/admission.h"

#include "common/log.h"

namespace stipple {

Admission::Admission(TaskStore& store, AdmissionOptions options)
    : store_(store), options_(options) {}

Result<EnqueueResult> Admission::Submit(const NewTask& task,
                                        const std::function<ServiceRate()>& rate) {
  if (draining()) return UnavailableError("the server is draining; retry on another");
  // Admission is the store's, in the enqueue's own transaction, from counts it keeps.
  NewTask admitted = task;
  admitted.max_queued = options_.max_queue;
  Result<EnqueueResult> enqueued = store_.Enqueue(admitted);
  NoteWrite(enqueued.status());
  ASSIGN_OR_RETURN(EnqueueResult result, std::move(enqueued));
  if (result.refused) {
    const AdmissionRefusal& r = *result.refused;
    if (!r.tenant_quota) {
      return QueueFullError(r.queued, options_.max_queue, options_.queue_full_retry_after);
    }
    return TenantQuotaError(task.tenant, r.queued, task.tenant_max_queued, r.oldest_position,
                            rate ? rate() : ServiceRate{});
  }
  return result;
}

void Admission::Drain() {
  {
    MutexLock lock(state_mu_);
    if (draining_) return;
    draining_ = true;
  }
  LogInfo("task service draining: no new tasks or leases");
  state_cv_.notify_all();
}

void Admission::Stop() {
  {
    MutexLock lock(state_mu_);
    draining_ = true;
    stopping_ = true;
  }
  state_cv_.notify_all();
}

bool Admission::draining() const {
  MutexLock lock(state_mu_);
  return draining_;
}

bool Admission::WaitWhileDraining(Millis wait) {
  MutexLock lock(state_mu_);
  if (!draining_) return false;
  state_cv_.wait_for(lock.native(), wait, [&]() REQUIRES(state_mu_) { return stopping_; });
  return true;
}

void Admission::NoteWrite(const Status& status) {
  if (!status.ok() && status.code() != StatusCode::kUnavailable) return;
  MutexLock lock(write_mu_);
  if (status.ok()) {
    if (refused_write_) LogInfo("writes accepted again; ready");
    refused_write_.reset();
    return;
  }
  // The reason goes to the log only: /readyz answers anyone, and the message names files.
  if (!refused_write_) LogWarn("a write was refused; not ready", {{"error", status.ToString()}});
  refused_write_ = options_.clock->Now();
}

Status Admission::Ready() {
  if (draining()) return UnavailableError("draining");
  auto counts = store_.Counts();
  if (!counts.ok()) return UnavailableError("task store: " + counts.status().ToString());
  MutexLock lock(write_mu_);
  if (refused_write_ && *refused_write_ + options_.write_refusal_hold > options_.clock->Now()) {
    return UnavailableError(
        "writes are refused (a full disk or an unreachable store: see the server's log)");
  }
  return Status::Ok();
}

}  // namespace stipple
