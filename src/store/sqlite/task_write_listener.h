// TaskWriteListener: lets a companion that keeps its own tables in the task database (the webhook
// outbox) write rows in the same transaction as a task's state change, so that both commit or
// neither does. A SQLite-store detail: the TaskStore interface is unchanged (the Redis store
// does the same with its own atomic step).
#pragma once

#include "common/status.h"
#include "core/task_state.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/task_rows.h"

namespace stipple::sqlite {

class TaskWriteListener {
 public:
  virtual ~TaskWriteListener() = default;

  // Called once while the store opens, on the writer connection, after the store's own schema
  // exists and before crash recovery runs (e.g. to create the listener's tables).
  virtual Status OnOpen(Connection& db) = 0;

  // Called on the writer thread inside the write transaction that moved a task from `before` to
  // row.task.state (before != after). row.request_json holds the task's request. Must not block;
  // an error undoes the operation that made the change (the caller sees the error).
  virtual Status OnStateChange(Connection& db, const TaskRow& row, TaskState before) = 0;
};

}  // namespace stipple::sqlite
