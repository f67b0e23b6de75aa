#include "store/sqlite/task_rows.h"

#include "store/stored_outputs.h"

namespace stipple::sqlite {
namespace {

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tasks (
  id                TEXT PRIMARY KEY,   -- ULID: sorts by creation time
  tenant            TEXT NOT NULL,
  model             TEXT NOT NULL,
  priority          INTEGER NOT NULL,   -- 0 high, 1 normal, 2 low
  state             INTEGER NOT NULL,   -- TaskState
  request           TEXT NOT NULL,      -- normalized request, JSON
  idempotency_key   TEXT,
  created_at        INTEGER NOT NULL,   -- Unix ms, as every time column
  started_at        INTEGER,
  completed_at      INTEGER,
  expires_at        INTEGER,
  attempts          INTEGER NOT NULL,
  max_attempts      INTEGER NOT NULL,
  cancel_requested  INTEGER NOT NULL,
  error_code        TEXT,
  error_message     TEXT,
  outputs           TEXT,               -- JSON array of TaskOutput
  outputs_expire_at INTEGER,
  outputs_expired   INTEGER NOT NULL,
  progress_step     INTEGER,
  progress_steps    INTEGER,
  worker_id         TEXT,
  fencing           INTEGER NOT NULL,
  lease_expires_at  INTEGER,
  not_before        INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tasks_queue ON tasks(model, priority, id, created_at) WHERE state = 0;
CREATE INDEX IF NOT EXISTS tasks_leases ON tasks(lease_expires_at) WHERE state = 1;
CREATE INDEX IF NOT EXISTS tasks_ttl ON tasks(expires_at)
  WHERE state = 0 AND expires_at IS NOT NULL AND started_at IS NULL;
CREATE INDEX IF NOT EXISTS tasks_retention ON tasks(outputs_expire_at)
  WHERE outputs_expired = 0 AND outputs_expire_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_tenant ON tasks(tenant, id);
CREATE INDEX IF NOT EXISTS tasks_tenant_state ON tasks(tenant, state, id);
CREATE INDEX IF NOT EXISTS tasks_state ON tasks(state, id);
CREATE TABLE IF NOT EXISTS idempotency (
  tenant      TEXT NOT NULL,
  key         TEXT NOT NULL,
  task_id     TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  expires_at  INTEGER NOT NULL,
  PRIMARY KEY (tenant, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_expiry ON idempotency(expires_at);
-- Tasks queued (state 0) and running (state 1), counted by triggers in the transaction of every
-- change, per tenant (queue_counts) and over all tenants (queue_totals): admission and the queue
-- figures read a few rows here instead of counting tasks. Rebuilt from `tasks` on every open.
CREATE TABLE IF NOT EXISTS queue_counts (
  state    INTEGER NOT NULL,
  tenant   TEXT NOT NULL,
  model    TEXT NOT NULL,
  priority INTEGER NOT NULL,
  n        INTEGER NOT NULL,
  PRIMARY KEY (state, tenant, model, priority)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queue_totals (
  state    INTEGER NOT NULL,
  model    TEXT NOT NULL,
  priority INTEGER NOT NULL,
  n        INTEGER NOT NULL,
  PRIMARY KEY (state, model, priority)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS tasks_count_insert AFTER INSERT ON tasks
WHEN NEW.state IN (0, 1) BEGIN
  INSERT INTO queue_counts VALUES (NEW.state, NEW.tenant, NEW.model, NEW.priority, 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
  INSERT INTO queue_totals VALUES (NEW.state, NEW.model, NEW.priority, 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS tasks_count_leave AFTER UPDATE OF state ON tasks
WHEN OLD.state <> NEW.state AND OLD.state IN (0, 1) BEGIN
  UPDATE queue_counts SET n = n - 1
    WHERE state = OLD.state AND tenant = OLD.tenant AND model = OLD.model
      AND priority = OLD.priority;
  UPDATE queue_totals SET n = n - 1
    WHERE state = OLD.state AND model = OLD.model AND priority = OLD.priority;
END;
CREATE TRIGGER IF NOT EXISTS tasks_count_enter AFTER UPDATE OF state ON tasks
WHEN OLD.state <> NEW.state AND NEW.state IN (0, 1) BEGIN
  INSERT INTO queue_counts VALUES (NEW.state, NEW.tenant, NEW.model, NEW.priority, 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
  INSERT INTO queue_totals VALUES (NEW.state, NEW.model, NEW.priority, 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS tasks_count_delete AFTER DELETE ON tasks
WHEN OLD.state IN (0, 1) BEGIN
  UPDATE queue_counts SET n = n - 1
    WHERE state = OLD.state AND tenant = OLD.tenant AND model = OLD.model
      AND priority = OLD.priority;
  UPDATE queue_totals SET n = n - 1
    WHERE state = OLD.state AND model = OLD.model AND priority = OLD.priority;
END;
)sql";

// The counts recomputed from the tasks themselves (one pass over the queued and running rows).
constexpr char kRebuildCounts[] = R"sql(
DELETE FROM queue_counts;
DELETE FROM queue_totals;
INSERT INTO queue_counts
  SELECT state, tenant, model, priority, COUNT(*) FROM tasks WHERE state IN (0, 1)
  GROUP BY state, tenant, model, priority;
INSERT INTO queue_totals
  SELECT state, model, priority, SUM(n) FROM queue_counts GROUP BY state, model, priority;
)sql";

constexpr char kQueuedTotal[] = "SELECT COALESCE(SUM(n), 0) FROM queue_totals WHERE state = 0";
constexpr char kQueuedOfTenant[] =
    "SELECT COALESCE(SUM(n), 0) FROM queue_counts WHERE state = 0 AND tenant = ?1";
constexpr char kOldestOfTenant[] =
    "SELECT model, priority, id FROM tasks WHERE tenant = ?1 AND state = 0 ORDER BY id LIMIT 1";
constexpr char kQueuedKeys[] = "SELECT model, priority, id FROM tasks WHERE state = 0";

std::optional<int64_t> OptMillis(const std::optional<Timestamp>& t) {
  if (!t) return std::nullopt;
  return ToUnixMillis(*t);
}

std::optional<Timestamp> OptTime(const Statement& row, int column) {
  auto v = row.OptInt(column);
  if (!v) return std::nullopt;
  return FromUnixMillis(*v);
}

// Binds the mutable columns as ?2..?19 in the order of kUpdate/kInsert below.
void BindMutable(Statement& s, const Task& t) {
  s.Bind(2, static_cast<int64_t>(t.state));
  s.Bind(3, OptMillis(t.started_at));
  s.Bind(4, OptMillis(t.completed_at));
  s.Bind(5, static_cast<int64_t>(t.attempts));
  s.Bind(6, static_cast<int64_t>(t.cancel_requested));
  if (t.error) {
    s.Bind(7, t.error->code).Bind(8, t.error->message);
  } else {
    s.BindNull(7).BindNull(8);
  }
  if (t.outputs.empty()) {
    s.BindNull(9);
  } else {
    s.Bind(9, StoredOutputsToJson(t.outputs));
  }
  s.Bind(10, OptMillis(t.outputs_expire_at));
  s.Bind(11, static_cast<int64_t>(t.outputs_expired));
  if (t.progress) {
    s.Bind(12, static_cast<int64_t>(t.progress->step))
        .Bind(13, static_cast<int64_t>(t.progress->steps));
  } else {
    s.BindNull(12).BindNull(13);
  }
  if (t.worker_id.empty()) {
    s.BindNull(14);
  } else {
    s.Bind(14, t.worker_id);
  }
  s.Bind(15, static_cast<int64_t>(t.fencing));
  s.Bind(16, OptMillis(t.lease_expires_at));
  s.Bind(17, OptMillis(t.not_before));
}

constexpr char kUpdate[] =
    "UPDATE tasks SET state=?2, started_at=?3, completed_at=?4, attempts=?5, cancel_requested=?6, "
    "error_code=?7, error_message=?8, outputs=?9, outputs_expire_at=?10, outputs_expired=?11, "
    "progress_step=?12, progress_steps=?13, worker_id=?14, fencing=?15, lease_expires_at=?16, "
    "not_before=?17 WHERE id=?1";

constexpr char kInsert[] =
    "INSERT INTO tasks (id, state, started_at, completed_at, attempts, cancel_requested, "
    "error_code, error_message, outputs, outputs_expire_at, outputs_expired, progress_step, "
    "progress_steps, worker_id, fencing, lease_expires_at, not_before, tenant, model, priority, "
    "request, idempotency_key, created_at, expires_at, max_attempts) VALUES (?1, ?2, ?3, ?4, ?5, "
    "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, "
    "?25)";

// With what StepsToRun reads of the request (the steps, the strength and whether there is an init
// image), which the writer needs (Complete reports the steps run) without parsing the whole
// request on its thread.
constexpr char kSelectById[] =
    "SELECT " STIPPLE_TASK_COLUMNS
    ", json_extract(request, '$.steps'), "
    "json_extract(request, '$.strength'), json_type(request, '$.init_image') FROM tasks "
    "WHERE id=?1";

}  // namespace

Status CreateSchema(Connection& db) { return db.Exec(kSchema); }

Result<Task> TaskRow::Finish() && {
  ASSIGN_OR_RETURN(task.request, StoredRequestFromJson(request_json));
  return std::move(task);
}

Result<Task> ReadTask(const Statement& row) {
  ASSIGN_OR_RETURN(TaskRow r, ReadTaskRow(row));
  return std::move(r).Finish();
}

Result<TaskRow> ReadTaskRow(const Statement& row) {
  TaskRow r;
  Task& t = r.task;
  t.id = row.Text(0);
  t.tenant = row.Text(1);
  int64_t state = row.Int(2);
  if (state < 0 || state > static_cast<int64_t>(TaskState::kExpired)) {
    return DataLossError("task " + t.id + " has an unknown state " + std::to_string(state));
  }
  t.state = static_cast<TaskState>(state);
  r.request_json = row.Text(3);
  t.idempotency_key = row.Text(4);
  t.created_at = FromUnixMillis(row.Int(5));
  t.started_at = OptTime(row, 6);
  t.completed_at = OptTime(row, 7);
  t.expires_at = OptTime(row, 8);
  t.attempts = static_cast<int>(row.Int(9));
  t.max_attempts = static_cast<int>(row.Int(10));
  t.cancel_requested = row.Int(11) != 0;
  if (!row.IsNull(12)) t.error = TaskError{row.Text(12), row.Text(13)};
  ASSIGN_OR_RETURN(t.outputs, StoredOutputsFromJson(row.Text(14)));
  t.outputs_expire_at = OptTime(row, 15);
  t.outputs_expired = row.Int(16) != 0;
  if (!row.IsNull(17)) {
    t.progress = TaskProgress{static_cast<int>(row.Int(17)), static_cast<int>(row.Int(18))};
  }
  t.worker_id = row.Text(19);
  t.fencing = static_cast<uint64_t>(row.Int(20));
  t.lease_expires_at = OptTime(row, 21);
  t.not_before = OptTime(row, 22);
  r.model = row.Text(23);
  r.priority = static_cast<int>(row.Int(24));
  return r;
}

Result<TaskRow> LoadTaskRow(Connection& db, const std::string& id) {
  ASSIGN_OR_RETURN(ScopedStatement s, db.Prepare(kSelectById));
  s->Bind(1, id);
  ASSIGN_OR_RETURN(bool found, s->Step());
  if (!found) return NotFoundError("no task " + id);
  ASSIGN_OR_RETURN(TaskRow row, ReadTaskRow(*s));
  row.task.request.steps = static_cast<int>(s->Int(kTaskColumns));
  if (!s->IsNull(kTaskColumns + 2) && s->Text(kTaskColumns + 2) != "null") {
    row.task.request.init_image = ImageInput{};  // present; its reference is not needed here
    row.task.request.strength = s->Double(kTaskColumns + 1);
  }
  return row;
}

Result<Task> LoadTask(Connection& db, const std::string& id) {
  ASSIGN_OR_RETURN(TaskRow r, LoadTaskRow(db, id));
  return std::move(r).Finish();
}

Status InsertTask(Connection& db, const Task& t, std::string_view request_json) {
  ASSIGN_OR_RETURN(ScopedStatement s, db.Prepare(kInsert));
  s->Bind(1, t.id);
  BindMutable(*s, t);
  s->Bind(18, t.tenant)
      .Bind(19, t.request.model)
      .Bind(20, static_cast<int64_t>(t.request.priority));
  s->Bind(21, request_json);
  if (t.idempotency_key.empty()) {
    s->BindNull(22);
  } else {
    s->Bind(22, t.idempotency_key);
  }
  s->Bind(23, ToUnixMillis(t.created_at)).Bind(24, OptMillis(t.expires_at));
  s->Bind(25, static_cast<int64_t>(t.max_attempts));
  return s->Run();
}

Status UpdateTask(Connection& db, const Task& t) {
  ASSIGN_OR_RETURN(ScopedStatement s, db.Prepare(kUpdate));
  s->Bind(1, t.id);
  BindMutable(*s, t);
  RETURN_IF_ERROR(s->Run());
  if (db.Changes() != 1) return NotFoundError("no task " + t.id);
  return Status::Ok();
}

Status RebuildCounts(Connection& db) {
  RETURN_IF_ERROR(db.Run("BEGIN IMMEDIATE"));
  Status s = db.Exec(kRebuildCounts);
  if (!s.ok()) {
    (void)db.Run("ROLLBACK");
    return s.WithContext("rebuild the queue counts");
  }
  return db.Run("COMMIT");
}

Result<int64_t> QueuedTotal(Connection& db) {
  ASSIGN_OR_RETURN(ScopedStatement s, db.Prepare(kQueuedTotal));
  ASSIGN_OR_RETURN(bool row, s->Step());
  return row ? s->Int(0) : 0;
}

Result<int64_t> QueuedOfTenant(Connection& db, const std::string& tenant) {
  ASSIGN_OR_RETURN(ScopedStatement s, db.Prepare(kQueuedOfTenant));
  s->Bind(1, tenant);
  ASSIGN_OR_RETURN(bool row, s->Step());
  return row ? s->Int(0) : 0;
}

Result<std::optional<QueueChange>> OldestQueuedOfTenant(Connection& db, const std::string& tenant) {
  ASSIGN_OR_RETURN(ScopedStatement s, db.Prepare(kOldestOfTenant));
  s->Bind(1, tenant);
  ASSIGN_OR_RETURN(bool row, s->Step());
  if (!row) return std::optional<QueueChange>();
  return std::optional<QueueChange>(
      QueueChange{s->Text(0), static_cast<int>(s->Int(1)), s->Text(2), true});
}

Status LoadQueueIndex(Connection& db, QueueIndex& index) {
  index.Clear();
  ASSIGN_OR_RETURN(ScopedStatement s, db.Prepare(kQueuedKeys));
  std::vector<QueueChange> batch;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) break;
    batch.push_back(QueueChange{s->Text(0), static_cast<int>(s->Int(1)), s->Text(2), true});
    if (batch.size() == 4096) {
      index.Apply(batch);
      batch.clear();
    }
  }
  index.Apply(batch);
  return Status::Ok();
}

}  // namespace stipple::sqlite
