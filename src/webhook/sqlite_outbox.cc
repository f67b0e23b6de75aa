#include "webhook/sqlite_outbox.h"

#include <boost/json.hpp>

namespace stipple::webhook {
namespace {

using sqlite::Connection;
using sqlite::ScopedStatement;

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS webhook_deliveries (
  id              TEXT PRIMARY KEY,   -- msg_ + ULID: the webhook-id, sorts by creation
  task_id         TEXT NOT NULL,
  event           TEXT NOT NULL,
  url             TEXT NOT NULL,
  host            TEXT NOT NULL,      -- host:port
  created_at      INTEGER NOT NULL,   -- Unix ms
  state           INTEGER NOT NULL,   -- DeliveryState
  attempts        INTEGER NOT NULL,
  next_attempt_at INTEGER,            -- while pending
  claimed         INTEGER NOT NULL    -- in flight in this opening
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS webhook_due ON webhook_deliveries(next_attempt_at, claimed, host)
  WHERE state = 0;
CREATE INDEX IF NOT EXISTS webhook_task_pending ON webhook_deliveries(task_id, id) WHERE state = 0;
CREATE INDEX IF NOT EXISTS webhook_task ON webhook_deliveries(task_id, id);
-- The bodies apart from the rows that change on every attempt (an UPDATE rewrites a whole row).
CREATE TABLE IF NOT EXISTS webhook_payloads (
  id      TEXT PRIMARY KEY,
  payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_attempts (
  delivery_id TEXT NOT NULL,
  attempt     INTEGER NOT NULL,
  at          INTEGER NOT NULL,
  status      INTEGER NOT NULL,  -- 0: no HTTP answer
  error       TEXT NOT NULL,
  duration_ms INTEGER NOT NULL,
  PRIMARY KEY (delivery_id, attempt)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS webhook_gone (task_id TEXT PRIMARY KEY) WITHOUT ROWID;
UPDATE webhook_deliveries SET claimed = 0 WHERE claimed = 1;
)sql";

constexpr char kInsert[] =
    "INSERT INTO webhook_deliveries(id, task_id, event, url, host, created_at, state, attempts, "
    "next_attempt_at, claimed) VALUES(?1, ?2, ?3, ?4, ?5, ?6, 0, 0, ?6, 0)";
constexpr char kInsertPayload[] = "INSERT INTO webhook_payloads(id, payload) VALUES(?1, ?2)";
constexpr char kIsGone[] = "SELECT 1 FROM webhook_gone WHERE task_id=?1";
constexpr char kHasTerminal[] =
    "SELECT 1 FROM webhook_deliveries WHERE task_id=?1 AND event NOT IN ('task.started', "
    "'task.progress') LIMIT 1";
constexpr char kClaimable[] =
    "SELECT d.id, d.task_id, d.event, d.url, d.host, p.payload, d.created_at, d.attempts "
    "FROM webhook_deliveries d JOIN webhook_payloads p ON p.id=d.id WHERE state=0 AND claimed=0 "
    "AND next_attempt_at<=?1 "
    "AND host NOT IN (SELECT value FROM json_each(?2)) "
    "AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.task_id=d.task_id AND e.state=0 "
    "AND e.id<d.id) ORDER BY next_attempt_at LIMIT ?3";
constexpr char kMarkClaimed[] = "UPDATE webhook_deliveries SET claimed=1 WHERE id=?1";
constexpr char kInsertAttempt[] =
    "INSERT OR REPLACE INTO webhook_attempts(delivery_id, attempt, at, status, error, "
    "duration_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6)";
constexpr char kHasLater[] = "SELECT 1 FROM webhook_deliveries WHERE task_id=?1 AND id>?2 LIMIT 1";
constexpr char kUpdate[] =
    "UPDATE webhook_deliveries SET state=?2, attempts=?3, next_attempt_at=?4, claimed=0 WHERE "
    "id=?1";
constexpr char kFailPendingOfTask[] =
    "UPDATE webhook_deliveries SET state=2, next_attempt_at=NULL WHERE task_id=?1 AND state=0 AND "
    "claimed=0";
constexpr char kPutGone[] = "INSERT OR IGNORE INTO webhook_gone(task_id) VALUES(?1)";
constexpr char kNextDue[] =
    "SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE state=0 AND claimed=0";
constexpr char kForTask[] =
    "SELECT d.id, d.task_id, d.event, d.url, d.host, p.payload, d.created_at, d.attempts, d.state, "
    "d.next_attempt_at FROM webhook_deliveries d JOIN webhook_payloads p ON p.id=d.id "
    "WHERE d.task_id=?1 ORDER BY d.id";
constexpr char kAttempts[] =
    "SELECT attempt, at, status, error, duration_ms FROM webhook_attempts WHERE delivery_id=?1 "
    "ORDER BY attempt";

Status Insert(Connection& db, const WebhookDelivery& d) {
  ASSIGN_OR_RETURN(ScopedStatement s, db.Prepare(kInsert));
  s->Bind(1, d.id).Bind(2, d.task_id).Bind(3, d.event).Bind(4, d.url).Bind(5, d.host);
  s->Bind(6, ToUnixMillis(d.created_at));
  RETURN_IF_ERROR(s->Run());
  ASSIGN_OR_RETURN(ScopedStatement p, db.Prepare(kInsertPayload));
  p->Bind(1, d.id).Bind(2, d.payload);
  return p->Run();
}

Result<bool> Exists(Connection& db, const char* sql, const std::string& a,
                    const std::string& b = "") {
  ASSIGN_OR_RETURN(ScopedStatement s, db.Prepare(sql));
  s->Bind(1, a);
  if (!b.empty()) s->Bind(2, b);
  return s->Step();
}

WebhookDelivery ReadDelivery(const sqlite::Statement& s) {
  WebhookDelivery d;
  d.id = s.Text(0);
  d.task_id = s.Text(1);
  d.event = s.Text(2);
  d.url = s.Text(3);
  d.host = s.Text(4);
  d.payload = s.Text(5);
  d.created_at = FromUnixMillis(s.Int(6));
  d.attempts = static_cast<int>(s.Int(7));
  return d;
}

}  // namespace

Status SqliteWebhookOutbox::OnOpen(Connection& db) { return db.Exec(kSchema); }

Status SqliteWebhookOutbox::OnStateChange(Connection& db, const sqlite::TaskRow& row,
                                          TaskState /*before*/) {
  if (row.task.state != TaskState::kRunning && !IsTerminal(row.task.state)) return Status::Ok();
  // Cheap test first: most tasks have no webhook, and parsing the request costs the writer.
  if (row.request_json.find("\"webhook\":{") == std::string::npos) return Status::Ok();
  ASSIGN_OR_RETURN(Task task, sqlite::TaskRow(row).Finish());
  std::optional<WebhookDelivery> d = DeliveryForStateChange(task, clock_->Now());
  if (!d) return Status::Ok();
  ASSIGN_OR_RETURN(bool gone, Exists(db, kIsGone, task.id));
  if (gone) return Status::Ok();
  RETURN_IF_ERROR(Insert(db, *d));
  Wake();  // the dispatcher's claim queues behind this transaction, so it sees the row
  return Status::Ok();
}

Status SqliteWebhookOutbox::AddProgress(const WebhookDelivery& delivery) {
  RETURN_IF_ERROR(store_->CompanionWrite(
      [&](Connection& db) -> Status {
        ASSIGN_OR_RETURN(bool gone, Exists(db, kIsGone, delivery.task_id));
        ASSIGN_OR_RETURN(bool ended, Exists(db, kHasTerminal, delivery.task_id));
        if (gone || ended) return Status::Ok();
        return Insert(db, delivery);
      },
      sqlite::Durability::kLazy));
  Wake();
  return Status::Ok();
}

Result<std::vector<WebhookDelivery>> SqliteWebhookOutbox::Claim(
    Timestamp now, int limit, const std::vector<std::string>& busy_hosts) {
  boost::json::array hosts;
  for (const std::string& h : busy_hosts) hosts.push_back(boost::json::string(h));
  const std::string hosts_json = boost::json::serialize(hosts);
  std::vector<WebhookDelivery> out;
  RETURN_IF_ERROR(store_->CompanionWrite(
      [&](Connection& db) -> Status {
        out.clear();
        {
          ASSIGN_OR_RETURN(ScopedStatement s, db.Prepare(kClaimable));
          s->Bind(1, ToUnixMillis(now)).Bind(2, hosts_json).Bind(3, static_cast<int64_t>(limit));
          while (true) {
            ASSIGN_OR_RETURN(bool row, s->Step());
            if (!row) break;
            out.push_back(ReadDelivery(*s));
          }
        }
        for (const WebhookDelivery& d : out) {
          ASSIGN_OR_RETURN(ScopedStatement s, db.Prepare(kMarkClaimed));
          s->Bind(1, d.id);
          RETURN_IF_ERROR(s->Run());
        }
        return Status::Ok();
      },
      sqlite::Durability::kLazy));
  return out;
}

Status SqliteWebhookOutbox::Record(std::span<const DeliveryOutcome> outcomes) {
  return store_->CompanionWrite(
      [&](Connection& db) -> Status {
        for (const DeliveryOutcome& o : outcomes) {
          const WebhookAttempt& a = o.attempt;
          {
            ASSIGN_OR_RETURN(ScopedStatement s, db.Prepare(kInsertAttempt));
            s->Bind(1, o.delivery_id).Bind(2, static_cast<int64_t>(a.number));
            s->Bind(3, ToUnixMillis(a.at)).Bind(4, static_cast<int64_t>(a.response_status));
            s->Bind(5, a.error).Bind(6, static_cast<int64_t>(a.duration.count()));
            RETURN_IF_ERROR(s->Run());
          }
          const std::string& task_id = o.task_id;
          DeliveryState state = o.state;
          if (state == DeliveryState::kPending && o.event == "task.progress") {
            ASSIGN_OR_RETURN(bool later, Exists(db, kHasLater, task_id, o.delivery_id));
            if (later) state = DeliveryState::kDropped;  // a newer event supersedes it
          }
          {
            ASSIGN_OR_RETURN(ScopedStatement s, db.Prepare(kUpdate));
            s->Bind(1, o.delivery_id).Bind(2, static_cast<int64_t>(state));
            s->Bind(3, static_cast<int64_t>(a.number));
            if (state == DeliveryState::kPending) {
              s->Bind(4, ToUnixMillis(o.next_attempt_at));
            } else {
              s->BindNull(4);
            }
            RETURN_IF_ERROR(s->Run());
          }
          if (o.gone) {
            ASSIGN_OR_RETURN(ScopedStatement fail, db.Prepare(kFailPendingOfTask));
            fail->Bind(1, task_id);
            RETURN_IF_ERROR(fail->Run());
            ASSIGN_OR_RETURN(ScopedStatement put, db.Prepare(kPutGone));
            put->Bind(1, task_id);
            RETURN_IF_ERROR(put->Run());
          }
        }
        return Status::Ok();
      },
      sqlite::Durability::kLazy);
}

Result<std::optional<Timestamp>> SqliteWebhookOutbox::NextDue() {
  std::optional<Timestamp> next;
  RETURN_IF_ERROR(store_->CompanionRead([&](Connection& db) -> Status {
    ASSIGN_OR_RETURN(ScopedStatement s, db.Prepare(kNextDue));
    ASSIGN_OR_RETURN(bool row, s->Step());
    if (row && !s->IsNull(0)) next = FromUnixMillis(s->Int(0));
    return Status::Ok();
  }));
  return next;
}

Result<std::vector<DeliveryRecord>> SqliteWebhookOutbox::ForTask(const std::string& task_id) {
  std::vector<DeliveryRecord> out;
  RETURN_IF_ERROR(store_->CompanionRead([&](Connection& db) -> Status {
    {
      ASSIGN_OR_RETURN(ScopedStatement s, db.Prepare(kForTask));
      s->Bind(1, task_id);
      while (true) {
        ASSIGN_OR_RETURN(bool row, s->Step());
        if (!row) break;
        DeliveryRecord r;
        r.delivery = ReadDelivery(*s);
        r.state = static_cast<DeliveryState>(s->Int(8));
        if (auto next = s->OptInt(9)) r.next_attempt_at = FromUnixMillis(*next);
        out.push_back(std::move(r));
      }
    }
    for (DeliveryRecord& r : out) {
      ASSIGN_OR_RETURN(ScopedStatement s, db.Prepare(kAttempts));
      s->Bind(1, r.delivery.id);
      while (true) {
        ASSIGN_OR_RETURN(bool row, s->Step());
        if (!row) break;
        r.attempts.push_back(WebhookAttempt{static_cast<int>(s->Int(0)), FromUnixMillis(s->Int(1)),
                                            static_cast<int>(s->Int(2)), s->Text(3),
                                            Millis(s->Int(4))});
      }
    }
    return Status::Ok();
  }));
  return out;
}

void SqliteWebhookOutbox::SetWakeup(std::function<void()> wakeup) {
  MutexLock lock(wakeup_mu_);
  wakeup_ = std::move(wakeup);
}

void SqliteWebhookOutbox::Wake() {
  MutexLock lock(wakeup_mu_);
  if (wakeup_) wakeup_();
}

}  // namespace stipple::webhook
