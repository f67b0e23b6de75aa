// SqliteWebhookOutbox: the WebhookOutbox of the embedded deployment, as tables in the SQLite task
// database. It is the task store's TaskWriteListener, so a state change's delivery is inserted in
// the transition's own transaction, and it writes through the store's group committer (its
// writes share batches and fsyncs with task transitions).
//
// Use: construct it, pass it as SqliteTaskStoreOptions::listener to SqliteTaskStore::Open, then
// Attach the opened store before calling anything else. It must outlive the store's writes.
//
// Threads: the WebhookOutbox calls come from the dispatcher's thread and the store's writers;
// SetWakeup (the dispatcher) and the wakeup it sets (called from a committing writer's thread)
// share wakeup_mu_, the only lock of its own.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>

#include "common/thread_annotations.h"
#include "store/sqlite/sqlite_task_store.h"
#include "store/sqlite/task_write_listener.h"
#include "webhook/outbox.h"

namespace stipple::webhook {

class SqliteWebhookOutbox final : public WebhookOutbox, public sqlite::TaskWriteListener {
 public:
  explicit SqliteWebhookOutbox(const Clock* clock = SystemClock::Get()) : clock_(clock) {}

  void Attach(SqliteTaskStore* store) { store_ = store; }

  // TaskWriteListener.
  Status OnOpen(sqlite::Connection& db) override;
  Status OnStateChange(sqlite::Connection& db, const sqlite::TaskRow& row,
                       TaskState before) override;

  // WebhookOutbox.
  Status AddProgress(const WebhookDelivery& delivery) override;
  Result<std::vector<WebhookDelivery>> Claim(Timestamp now, int limit,
                                             const std::vector<std::string>& busy_hosts) override;
  Status Record(std::span<const DeliveryOutcome> outcomes) override;
  Result<std::optional<Timestamp>> NextDue() override;
  Result<std::vector<DeliveryRecord>> ForTask(const std::string& task_id) override;
  void SetWakeup(std::function<void()> wakeup) override;

 private:
  void Wake();

  const Clock* clock_;
  SqliteTaskStore* store_ = nullptr;
  Mutex wakeup_mu_;
  std::function<void()> wakeup_ GUARDED_BY(wakeup_mu_);
};

}  // namespace stipple::webhook
