// SqliteTaskStore: opening, the reader pool, enqueue and the read paths. Leasing is in
// sqlite_lease.cc, the other transitions and recovery in sqlite_transitions.cc.
#include "store/sqlite/sqlite_task_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/id.h"
#include "store/sqlite/task_rows.h"
#include "store/stored_outputs.h"
#include "store/transitions.h"

namespace stipple {

using sqlite::Connection;
using sqlite::Durability;
using sqlite::ScopedStatement;
using sqlite::WriteContext;

// A read connection borrowed from the pool for one call, inside one read transaction so that
// everything the call reads comes from the same snapshot.
class SqliteTaskStore::ReadLease {
 public:
  explicit ReadLease(SqliteTaskStore* store) : store_(store) {}
  ~ReadLease() {
    if (!conn_) return;
    if (in_transaction_ && !conn_->Run("COMMIT").ok()) return;  // drop a connection in doubt
    store_->ReturnReader(std::move(conn_));
  }
  Status Acquire() {
    ASSIGN_OR_RETURN(conn_, store_->AcquireReader());
    RETURN_IF_ERROR(conn_->Run("BEGIN"));
    in_transaction_ = true;
    return Status::Ok();
  }
  Connection& db() { return *conn_; }

 private:
  SqliteTaskStore* store_;
  std::unique_ptr<Connection> conn_;
  bool in_transaction_ = false;
};

namespace {

constexpr char kBumpEpoch[] =
    "INSERT INTO meta(key, value) VALUES('epoch', 1) "
    "ON CONFLICT(key) DO UPDATE SET value = value + 1 RETURNING value";

constexpr char kFindIdempotency[] =
    "SELECT task_id, fingerprint FROM idempotency WHERE tenant=?1 AND key=?2 AND expires_at>?3";
constexpr char kPutIdempotency[] =
    "INSERT OR REPLACE INTO idempotency(tenant, key, task_id, fingerprint, expires_at) "
    "VALUES(?1, ?2, ?3, ?4, ?5)";

constexpr char kListTenant[] = "SELECT " STIPPLE_TASK_COLUMNS
                               " FROM tasks WHERE tenant=?1 AND id<?2 ORDER BY id DESC LIMIT ?3";
constexpr char kListTenantState[] =
    "SELECT " STIPPLE_TASK_COLUMNS
    " FROM tasks WHERE tenant=?1 AND state=?4 AND id<?2 ORDER BY id DESC LIMIT ?3";
constexpr char kListAll[] =
    "SELECT " STIPPLE_TASK_COLUMNS " FROM tasks WHERE id<?2 ORDER BY id DESC LIMIT ?3";
constexpr char kListAllState[] =
    "SELECT " STIPPLE_TASK_COLUMNS " FROM tasks WHERE state=?4 AND id<?2 ORDER BY id DESC LIMIT ?3";

constexpr char kCounts[] =
    "SELECT state, model, priority, n FROM queue_totals WHERE n > 0 ORDER BY model, state, "
    "priority";
// The oldest queued task of a model and priority: the first in the queue index (ids sort by
// creation time, and a retried task keeps its id and created_at).
constexpr char kOldestQueued[] =
    "SELECT created_at FROM tasks WHERE state=0 AND model=?1 AND priority=?2 ORDER BY id LIMIT 1";

Status ConfigureConnection(Connection& db) {
  RETURN_IF_ERROR(db.Exec("PRAGMA busy_timeout=5000"));
  RETURN_IF_ERROR(db.Exec("PRAGMA foreign_keys=OFF"));
  return db.Exec("PRAGMA temp_store=MEMORY");
}

Result<int> LockDatabase(const std::string& path) {
  std::string lock_path = path + "-lock";
  int fd = ::open(lock_path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  if (fd < 0) return UnavailableError("cannot open " + lock_path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return UnavailableError("task store " + path + " is in use by another process");
  }
  return fd;
}

}  // namespace

Result<std::unique_ptr<SqliteTaskStore>> SqliteTaskStore::Open(
    const SqliteTaskStoreOptions& options) {
  ASSIGN_OR_RETURN(int lock_fd, LockDatabase(options.path));
  auto fail = [&](const Status& s) {
    ::close(lock_fd);
    return s.WithContext("open task store " + options.path);
  };
  auto db = Connection::Open(options.path, options.vfs);
  if (!db.ok()) return fail(db.status());
  Connection& conn = **db;
  // Checkpoints run on their own thread (Checkpointer), never in the middle of a batch.
  for (const char* sql :
       {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA wal_autocheckpoint=0"}) {
    if (Status s = conn.Exec(sql); !s.ok()) return fail(s);
  }
  if (Status s = ConfigureConnection(conn); !s.ok()) return fail(s);
  if (Status s = sqlite::CreateSchema(conn); !s.ok()) return fail(s);
  if (Status s = sqlite::RebuildCounts(conn); !s.ok()) return fail(s);
  if (options.listener != nullptr) {
    if (Status s = options.listener->OnOpen(conn); !s.ok()) return fail(s);
  }
  int64_t epoch = 0;
  {
    auto stmt = conn.Prepare(kBumpEpoch);
    if (!stmt.ok()) return fail(stmt.status());
    auto row = (*stmt)->Step();
    if (!row.ok()) return fail(row.status());
    epoch = (*stmt)->Int(0);
  }
  auto store = std::unique_ptr<SqliteTaskStore>(new SqliteTaskStore(options, lock_fd, epoch));
  if (Status s = sqlite::LoadQueueIndex(conn, store->queue_index_); !s.ok()) {
    return s.WithContext("open task store " + options.path);  // the store closes the lock
  }
  store->writer_ = std::make_unique<sqlite::GroupCommitter>(
      std::move(*db),
      sqlite::GroupCommitter::Options{options.group_commit, options.max_batch, options.sync_full},
      static_cast<sqlite::GroupCommitter::WorkHooks*>(store.get()));
  RETURN_IF_ERROR(store->RecoverLeasesOfEarlierEpochs());
  ASSIGN_OR_RETURN(auto checkpoint_db, Connection::Open(options.path, options.vfs));
  RETURN_IF_ERROR(ConfigureConnection(*checkpoint_db));
  store->checkpointer_ =
      std::make_unique<sqlite::Checkpointer>(std::move(checkpoint_db), options.checkpoint_interval);
  return store;
}

SqliteTaskStore::SqliteTaskStore(SqliteTaskStoreOptions options, int lock_fd, int64_t epoch)
    : options_(std::move(options)), lock_fd_(lock_fd), epoch_(epoch) {}

SqliteTaskStore::~SqliteTaskStore() {
  checkpointer_.reset();
  writer_.reset();  // drains pending writes
  readers_.clear();
  ::close(lock_fd_);  // releases the flock
}

Status SqliteTaskStore::Write(const sqlite::GroupCommitter::Operation& op, Durability durability) {
  return writer_->Run(
      [this, &op](WriteContext& ctx) {
        const size_t mark = batch_changes_.size();
        Status s = op(ctx);
        if (!s.ok()) batch_changes_.resize(mark);  // its savepoint is rolled back
        return s;
      },
      durability);
}

void SqliteTaskStore::BatchEnded(bool committed) {
  if (committed) queue_index_.Apply(batch_changes_);
  batch_changes_.clear();
}

Status SqliteTaskStore::StateChanged(WriteContext& ctx, const sqlite::TaskRow& row,
                                     TaskState before) {
  const Task& t = row.task;
  if (t.state == before) return Status::Ok();
  if ((before == TaskState::kQueued) != (t.state == TaskState::kQueued)) {
    batch_changes_.push_back(
        sqlite::QueueChange{row.model, row.priority, t.id, t.state == TaskState::kQueued});
  }
  if (options_.listener == nullptr) return Status::Ok();
  return options_.listener->OnStateChange(ctx.db, row, before);
}

void SqliteTaskStore::FillPosition(Task& task) const {
  if (task.state != TaskState::kQueued) return;
  task.queue_position =
      queue_index_.Ahead(task.request.model, static_cast<int>(task.request.priority), task.id);
}

Status SqliteTaskStore::CompanionWrite(const std::function<Status(Connection&)>& op,
                                       Durability durability) {
  return Write([&op](WriteContext& ctx) { return op(ctx.db); }, durability);
}

Status SqliteTaskStore::CompanionRead(const std::function<Status(Connection&)>& op) {
  ReadLease reader(this);
  RETURN_IF_ERROR(reader.Acquire());
  return op(reader.db());
}

Result<std::unique_ptr<Connection>> SqliteTaskStore::AcquireReader() {
  {
    MutexLock lock(readers_mu_);
    if (!readers_.empty()) {
      auto conn = std::move(readers_.back());
      readers_.pop_back();
      return conn;
    }
  }
  ASSIGN_OR_RETURN(auto conn, Connection::Open(options_.path, options_.vfs));
  RETURN_IF_ERROR(ConfigureConnection(*conn));
  RETURN_IF_ERROR(conn->Exec("PRAGMA query_only=ON"));
  return conn;
}

void SqliteTaskStore::ReturnReader(std::unique_ptr<Connection> conn) {
  MutexLock lock(readers_mu_);
  if (static_cast<int>(readers_.size()) < options_.read_connections)
    readers_.push_back(std::move(conn));
}

Result<uint64_t> SqliteTaskStore::NextFencing() {
  uint64_t n = ++fencing_counter_;
  if (n >= (uint64_t{1} << 32)) {
    return UnavailableError(
        "this opening of the task store has used all its fencing numbers; reopen it");
  }
  return (static_cast<uint64_t>(epoch_) << 32) + n;
}

Result<std::optional<AdmissionRefusal>> SqliteTaskStore::Admit(Connection& db, const NewTask& nt) {
  using Refusal = std::optional<AdmissionRefusal>;
  if (nt.max_queued > 0) {
    ASSIGN_OR_RETURN(int64_t queued, sqlite::QueuedTotal(db));
    if (queued >= nt.max_queued) return Refusal(AdmissionRefusal{false, queued, 0});
  }
  if (nt.tenant_max_queued > 0) {
    ASSIGN_OR_RETURN(int64_t queued, sqlite::QueuedOfTenant(db, nt.tenant));
    if (queued >= nt.tenant_max_queued) {
      AdmissionRefusal refusal{true, queued, 0};
      ASSIGN_OR_RETURN(auto oldest, sqlite::OldestQueuedOfTenant(db, nt.tenant));
      if (oldest)
        refusal.oldest_position = queue_index_.Ahead(oldest->model, oldest->priority, oldest->id);
      return Refusal(refusal);
    }
  }
  return Refusal();
}

Result<EnqueueResult> SqliteTaskStore::Enqueue(const NewTask& nt) {
  Timestamp now = Now();
  EnqueueResult out;
  ASSIGN_OR_RETURN(out.task, transitions::NewQueuedTask(nt, now));
  Task& t = out.task;

  std::string request_json = StoredRequestToJson(t.request);  // off the writer thread
  Status s = Write(
      [&](WriteContext& ctx) -> Status {
        out.refused.reset();
        if (!nt.idempotency_key.empty()) {
          ASSIGN_OR_RETURN(ScopedStatement find, ctx.db.Prepare(kFindIdempotency));
          find->Bind(1, nt.tenant).Bind(2, nt.idempotency_key).Bind(3, ToUnixMillis(now));
          ASSIGN_OR_RETURN(bool found, find->Step());
          if (found) {
            if (find->Text(1) != nt.request_fingerprint) {
              return AlreadyExistsError("Idempotency-Key '" + nt.idempotency_key +
                                        "' was already used with a different request");
            }
            ASSIGN_OR_RETURN(out.task, sqlite::LoadTask(ctx.db, find->Text(0)));
            out.created = false;
            return Status::Ok();
          }
        }
        ASSIGN_OR_RETURN(out.refused, Admit(ctx.db, nt));
        if (out.refused) return Status::Ok();
        if (!nt.idempotency_key.empty()) {
          ASSIGN_OR_RETURN(ScopedStatement put, ctx.db.Prepare(kPutIdempotency));
          put->Bind(1, nt.tenant)
              .Bind(2, nt.idempotency_key)
              .Bind(3, nt.id)
              .Bind(4, nt.request_fingerprint);
          put->Bind(5, ToUnixMillis(now + options_.idempotency_ttl));
          RETURN_IF_ERROR(put->Run());
        }
        RETURN_IF_ERROR(sqlite::InsertTask(ctx.db, t, request_json));
        batch_changes_.push_back(
            sqlite::QueueChange{t.request.model, static_cast<int>(t.request.priority), t.id, true});
        ctx.work_added = true;
        return Status::Ok();
      },
      Durability::kSync);
  if (!s.ok()) return s;
  if (!out.refused) FillPosition(out.task);  // the batch has committed: the index has it
  return out;
}

Status SqliteTaskStore::EnqueueManyForTesting(std::span<const NewTask> tasks) {
  Timestamp now = Now();
  std::vector<std::pair<Task, std::string>> rows;
  for (const NewTask& nt : tasks) {
    ASSIGN_OR_RETURN(Task t, transitions::NewQueuedTask(nt, now));
    std::string json = StoredRequestToJson(t.request);
    rows.emplace_back(std::move(t), std::move(json));
  }
  return Write(
      [&](WriteContext& ctx) -> Status {
        for (const auto& [t, json] : rows) {
          RETURN_IF_ERROR(sqlite::InsertTask(ctx.db, t, json));
          batch_changes_.push_back(sqlite::QueueChange{
              t.request.model, static_cast<int>(t.request.priority), t.id, true});
        }
        ctx.work_added = true;
        return Status::Ok();
      },
      Durability::kSync);
}

Result<Task> SqliteTaskStore::Get(const std::string& task_id) {
  ReadLease reader(this);
  RETURN_IF_ERROR(reader.Acquire());
  ASSIGN_OR_RETURN(Task t, sqlite::LoadTask(reader.db(), task_id));
  FillPosition(t);
  return t;
}

Result<TaskPage> SqliteTaskStore::List(const ListQuery& q) {
  if (q.limit < 1 || q.limit > 100) {
    return InvalidArgumentError("invalid list query", {{"limit", "must be between 1 and 100"}});
  }
  if (!q.cursor.empty() && !IsValidId(q.cursor, "tsk")) {
    return InvalidArgumentError("invalid list query",
                                {{"cursor", "is not a cursor from a previous page"}});
  }
  ReadLease reader(this);
  RETURN_IF_ERROR(reader.Acquire());
  const char* sql = q.tenant.empty() ? (q.state ? kListAllState : kListAll)
                                     : (q.state ? kListTenantState : kListTenant);
  ASSIGN_OR_RETURN(ScopedStatement s, reader.db().Prepare(sql));
  s->Bind(1, q.tenant).Bind(2, q.cursor.empty() ? std::string("~") : q.cursor);
  s->Bind(3, static_cast<int64_t>(q.limit) + 1);
  if (q.state) s->Bind(4, static_cast<int64_t>(*q.state));
  TaskPage page;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) break;
    ASSIGN_OR_RETURN(Task t, sqlite::ReadTask(*s));
    page.tasks.push_back(std::move(t));
  }
  if (static_cast<int>(page.tasks.size()) > q.limit) {
    page.tasks.pop_back();
    page.next_cursor = page.tasks.back().id;
  }
  for (Task& t : page.tasks) FillPosition(t);
  return page;
}

Result<std::vector<QueueCounts>> SqliteTaskStore::Counts() {
  ReadLease reader(this);
  RETURN_IF_ERROR(reader.Acquire());
  std::vector<QueueCounts> out;
  auto entry = [&](const std::string& model) -> QueueCounts& {
    for (auto& c : out) {
      if (c.model == model) return c;
    }
    out.push_back(QueueCounts{model});
    return out.back();
  };
  ASSIGN_OR_RETURN(ScopedStatement s, reader.db().Prepare(kCounts));
  while (true) {
    ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) break;
    QueueCounts& c = entry(s->Text(1));
    int64_t priority = std::clamp<int64_t>(s->Int(2), 0, 2);
    if (s->Int(0) == static_cast<int64_t>(TaskState::kRunning)) {
      c.running += s->Int(3);
      continue;
    }
    c.queued[priority] += s->Int(3);
    ASSIGN_OR_RETURN(ScopedStatement oldest, reader.db().Prepare(kOldestQueued));
    oldest->Bind(1, c.model).Bind(2, priority);
    ASSIGN_OR_RETURN(bool found, oldest->Step());
    if (!found) continue;
    Timestamp at = FromUnixMillis(oldest->Int(0));
    if (!c.oldest_queued_at || at < *c.oldest_queued_at) c.oldest_queued_at = at;
  }
  return out;
}

}  // namespace stipple
