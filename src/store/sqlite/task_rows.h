// The SQLite store's schema and the mapping between a Task and its row.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/task.h"
#include "store/sqlite/queue_index.h"
#include "store/sqlite/sqlite_db.h"

namespace stipple::sqlite {

// Creates the tables and indexes if missing (idempotent).
Status CreateSchema(Connection& db);

// A task as read inside a write operation: every column is decoded except the request, which
// stays JSON text so that the one writer thread does not spend its time parsing it. Finish()
// parses it, on the caller's thread, once the write has returned.
struct TaskRow {
  Task task;  // task.request is empty until Finish(), but for what StepsToRun reads when from
              // LoadTaskRow
  std::string request_json;
  std::string model;  // the request's model and priority (columns of their own)
  int priority = 1;
  Result<Task> Finish() &&;
};

// The task with this id; kNotFound if none.
Result<Task> LoadTask(Connection& db, const std::string& id);
Result<TaskRow> LoadTaskRow(Connection& db, const std::string& id);
// `request_json` is StoredRequestToJson(task.request) (store/stored_outputs.h), made by the caller
// off the writer.
Status InsertTask(Connection& db, const Task& task, std::string_view request_json);
// Writes every mutable column of `task` (state, lease, outputs, ...).
Status UpdateTask(Connection& db, const Task& task);

// The queue counts (tables queue_counts and queue_totals, kept by triggers) recomputed from the
// tasks, in a transaction of its own: one pass over the queued and running rows, at open.
Status RebuildCounts(Connection& db);
// Queued tasks of every tenant and model; of one tenant. A few rows of the counts each.
Result<int64_t> QueuedTotal(Connection& db);
Result<int64_t> QueuedOfTenant(Connection& db, const std::string& tenant);
// The tenant's oldest queued task (its model, priority and id); nullopt when it has none.
Result<std::optional<QueueChange>> OldestQueuedOfTenant(Connection& db, const std::string& tenant);
// Fills `index` with the queued tasks of the database (one pass, at open).
Status LoadQueueIndex(Connection& db, QueueIndex& index);

// The SELECT list for ReadTask, and the reader of one row selected with it.
#define STIPPLE_TASK_COLUMNS                                                                   \
  "id, tenant, state, request, idempotency_key, created_at, started_at, completed_at, "        \
  "expires_at, attempts, max_attempts, cancel_requested, error_code, error_message, outputs, " \
  "outputs_expire_at, outputs_expired, progress_step, progress_steps, worker_id, fencing, "    \
  "lease_expires_at, not_before, model, priority"
Result<Task> ReadTask(const Statement& row);
Result<TaskRow> ReadTaskRow(const Statement& row);
// How many columns STIPPLE_TASK_COLUMNS selects: the index of a column selected after them.
constexpr int kTaskColumns = [] {
  int n = 1;
  for (const char c : std::string_view(STIPPLE_TASK_COLUMNS)) n += c == ',' ? 1 : 0;
  return n;
}();

}  // namespace stipple::sqlite
