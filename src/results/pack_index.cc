#include "results/pack_index.h"

#include <algorithm>
#include <utility>

#include "store/sqlite/sqlite_db.h"

namespace stipple {

namespace {

constexpr int64_t kSchemaVersion = 1;

// Created in one transaction by Open when the database is new (user_version 0). The partial index
// holds the dead packs only: a handful at any time, found without a scan.
constexpr char kSchema[] = R"sql(
BEGIN;
CREATE TABLE IF NOT EXISTS packs (
  number INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  live INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS packs_dead ON packs (number) WHERE live <= 0;
CREATE TABLE IF NOT EXISTS records (
  task TEXT NOT NULL,
  fencing INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  pack INTEGER NOT NULL,
  pos INTEGER NOT NULL,
  size INTEGER NOT NULL,
  sha256 BLOB NOT NULL,
  PRIMARY KEY (task, fencing, idx)) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS records_added AFTER INSERT ON records BEGIN
  UPDATE packs SET live = live + 1 WHERE number = NEW.pack;
END;
CREATE TRIGGER IF NOT EXISTS records_dropped AFTER DELETE ON records BEGIN
  UPDATE packs SET live = live - 1 WHERE number = OLD.pack;
END;
CREATE TRIGGER IF NOT EXISTS records_moved AFTER UPDATE OF pack ON records BEGIN
  UPDATE packs SET live = live - 1 WHERE number = OLD.pack;
  UPDATE packs SET live = live + 1 WHERE number = NEW.pack;
END;
PRAGMA user_version = 1;
COMMIT;
)sql";

// Statements (the connection's cache is keyed by their address).
constexpr char kUserVersion[] = "PRAGMA user_version";
constexpr char kCountDead[] = "SELECT count(*) FROM packs WHERE live <= 0";
constexpr char kInsertPack[] = "INSERT INTO packs (name, live) VALUES (?1, 0)";
constexpr char kPutRecord[] =
    "INSERT INTO records (task, fencing, idx, pack, pos, size, sha256) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (task, fencing, idx) DO UPDATE SET "
    "pack = excluded.pack, pos = excluded.pos, size = excluded.size, sha256 = excluded.sha256";
// As kPutRecord, but an existing copy is replaced only in a pack whose name sorts before ?8 or is
// ?8 (a key twice in one pack: the later record, as PutBatch wrote them).
constexpr char kPutFoundRecord[] =
    "INSERT INTO records (task, fencing, idx, pack, pos, size, sha256) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (task, fencing, idx) DO UPDATE SET "
    "pack = excluded.pack, pos = excluded.pos, size = excluded.size, sha256 = excluded.sha256 "
    "WHERE IFNULL((SELECT name FROM packs WHERE number = records.pack), '') <= ?8";
constexpr char kDeadPacks[] = "SELECT name FROM packs WHERE live <= 0";
constexpr char kForgetPack[] = "DELETE FROM packs WHERE name = ?1 AND live <= 0";
constexpr char kFind[] =
    "SELECT p.name, r.pos, r.size, r.sha256 FROM records AS r JOIN packs AS p "
    "ON p.number = r.pack WHERE r.task = ?1 AND r.fencing = ?2 AND r.idx = ?3";
constexpr char kRemoveTask[] = "DELETE FROM records WHERE task = ?1";
constexpr char kRemoveLease[] = "DELETE FROM records WHERE task = ?1 AND fencing = ?2";
constexpr char kRemoveRecord[] =
    "DELETE FROM records WHERE task = ?1 AND fencing = ?2 AND idx = ?3";
constexpr char kKnows[] = "SELECT 1 FROM packs WHERE name = ?1";
constexpr char kPackCount[] = "SELECT count(*) FROM packs";
constexpr char kAllPacks[] = "SELECT number, name FROM packs";
constexpr char kDropPack[] = "DELETE FROM packs WHERE number = ?1";
constexpr char kDropOrphanRecords[] =
    "DELETE FROM records WHERE pack NOT IN (SELECT number FROM packs)";
constexpr char kFirstLeases[] =
    "SELECT DISTINCT task, fencing FROM records ORDER BY task, fencing LIMIT ?1";
constexpr char kNextLeases[] =
    "SELECT DISTINCT task, fencing FROM records WHERE (task, fencing) > (?1, ?2) "
    "ORDER BY task, fencing LIMIT ?3";

// uint64 values (fencing numbers, sizes) are stored as the int64 of the same bits.
int64_t AsInt(uint64_t value) { return static_cast<int64_t>(value); }

Sha256Digest DigestFrom(std::string_view bytes) {
  Sha256Digest digest{};
  if (bytes.size() == digest.size()) std::copy(bytes.begin(), bytes.end(), digest.begin());
  return digest;
}

// Deletes the database's files through the VFS that opened them (so a test's model of the disk
// sees it); a missing file is fine.
Status DeleteDatabase(const PackIndexOptions& options) {
  sqlite3_vfs* vfs = sqlite3_vfs_find(options.vfs.empty() ? nullptr : options.vfs.c_str());
  if (vfs == nullptr) return InternalError("pack index: no SQLite VFS " + options.vfs);
  std::string full(static_cast<size_t>(vfs->mxPathname) + 1, '\0');
  if (vfs->xFullPathname(vfs, options.path.c_str(), vfs->mxPathname, full.data()) != SQLITE_OK) {
    return InternalError("pack index: no full path for " + options.path);
  }
  full.resize(full.find('\0'));
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    const std::string file = full + suffix;
    const int rc = vfs->xDelete(vfs, file.c_str(), /*syncDir=*/0);
    if (rc != SQLITE_OK && rc != SQLITE_IOERR_DELETE_NOENT) {
      return sqlite::SqliteError(nullptr, rc, "delete " + file);
    }
  }
  return Status::Ok();
}

}  // namespace

PackIndex::PackIndex(std::unique_ptr<sqlite::Connection> db) : db_(std::move(db)) {}

PackIndex::~PackIndex() = default;

Result<std::unique_ptr<PackIndex>> PackIndex::Open(const PackIndexOptions& options) {
  Result<std::unique_ptr<PackIndex>> index = TryOpen(options);
  if (index.ok() || index.status().code() != StatusCode::kDataLoss) return index;
  // Not a database we can read: the packs hold everything it said but deletions; start anew.
  RETURN_IF_ERROR(DeleteDatabase(options));
  ASSIGN_OR_RETURN(std::unique_ptr<PackIndex> fresh, TryOpen(options));
  fresh->rebuilt_ = true;
  return fresh;
}

Result<std::unique_ptr<PackIndex>> PackIndex::TryOpen(const PackIndexOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Connection> db,
                   sqlite::Connection::Open(options.path, options.vfs));
  RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode=WAL"));
  RETURN_IF_ERROR(db->Exec(options.sync ? "PRAGMA synchronous=NORMAL" : "PRAGMA synchronous=OFF"));
  RETURN_IF_ERROR(db->Exec("PRAGMA cache_size=-2000"));
  int64_t version = 0;
  {
    ASSIGN_OR_RETURN(sqlite::ScopedStatement stmt, db->Prepare(kUserVersion));
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (row) version = stmt->Int(0);
  }
  if (version == 0) {
    RETURN_IF_ERROR(db->Exec(kSchema));
  } else if (version != kSchemaVersion) {
    return DataLossError("pack index " + options.path + ": schema version " +
                         std::to_string(version) + ", not " + std::to_string(kSchemaVersion));
  }
  RETURN_IF_ERROR(db->Run(kCountDead));  // reads the tables: a damaged one shows here
  return std::unique_ptr<PackIndex>(new PackIndex(std::move(db)));
}

Status PackIndex::InTransaction(const std::function<Status()>& body) {
  RETURN_IF_ERROR(db_->Run("BEGIN IMMEDIATE"));
  Status s = body();
  if (s.ok()) s = db_->Run("COMMIT");
  if (!s.ok() && !sqlite3_get_autocommit(db_->raw())) (void)db_->Run("ROLLBACK");
  return s;
}

Result<std::vector<std::string>> PackIndex::DeadPacksLocked() {
  std::vector<std::string> dead;
  ASSIGN_OR_RETURN(sqlite::ScopedStatement stmt, db_->Prepare(kDeadPacks));
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    dead.push_back(stmt->Text(0));
  }
  return dead;
}

Status PackIndex::AddRecords(const std::string& name, std::span<const PackedRecord> records,
                             bool only_over_earlier) {
  int64_t pack = 0;
  {
    ASSIGN_OR_RETURN(sqlite::ScopedStatement insert, db_->Prepare(kInsertPack));
    RETURN_IF_ERROR(insert->Bind(1, name).Run());
    pack = sqlite3_last_insert_rowid(db_->raw());
  }
  for (const PackedRecord& r : records) {
    ASSIGN_OR_RETURN(sqlite::ScopedStatement put,
                     db_->Prepare(only_over_earlier ? kPutFoundRecord : kPutRecord));
    put->Bind(1, r.task_id)
        .Bind(2, AsInt(r.fencing))
        .Bind(3, int64_t{r.index})
        .Bind(4, pack)
        .Bind(5, AsInt(r.offset))
        .Bind(6, AsInt(r.size))
        .BindBlob(7, DigestBytes(r.sha256));
    if (only_over_earlier) put->Bind(8, name);
    RETURN_IF_ERROR(put->Run());
  }
  return Status::Ok();
}

Result<std::vector<std::string>> PackIndex::Add(const std::string& name,
                                                std::span<const PackedRecord> records) {
  MutexLock lock(mu_);
  std::vector<std::string> dead;
  RETURN_IF_ERROR(InTransaction([&]() REQUIRES(mu_) -> Status {
    RETURN_IF_ERROR(AddRecords(name, records, /*only_over_earlier=*/false));
    ASSIGN_OR_RETURN(dead, DeadPacksLocked());
    return Status::Ok();
  }));
  return dead;
}

Result<std::vector<std::string>> PackIndex::AddFound(std::span<const FoundPack> packs) {
  MutexLock lock(mu_);
  std::vector<std::string> dead;
  RETURN_IF_ERROR(InTransaction([&]() REQUIRES(mu_) -> Status {
    for (const FoundPack& pack : packs) {
      RETURN_IF_ERROR(AddRecords(pack.name, pack.records, /*only_over_earlier=*/true));
    }
    ASSIGN_OR_RETURN(dead, DeadPacksLocked());
    return Status::Ok();
  }));
  return dead;
}

Result<std::optional<PackedLocation>> PackIndex::Find(const std::string& task_id, uint64_t fencing,
                                                      int index) {
  MutexLock lock(mu_);
  ASSIGN_OR_RETURN(sqlite::ScopedStatement stmt, db_->Prepare(kFind));
  stmt->Bind(1, task_id).Bind(2, AsInt(fencing)).Bind(3, int64_t{index});
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return std::optional<PackedLocation>();
  PackedLocation at;
  at.pack = stmt->Text(0);
  at.offset = static_cast<uint64_t>(stmt->Int(1));
  at.size = static_cast<uint64_t>(stmt->Int(2));
  at.sha256 = DigestFrom(stmt->Blob(3));
  return std::optional<PackedLocation>(std::move(at));
}

Result<std::vector<std::string>> PackIndex::Remove(const std::string& task_id,
                                                   std::optional<uint64_t> fencing,
                                                   std::optional<int> index) {
  MutexLock lock(mu_);
  {
    ASSIGN_OR_RETURN(sqlite::ScopedStatement stmt, db_->Prepare(!fencing ? kRemoveTask
                                                                : !index ? kRemoveLease
                                                                         : kRemoveRecord));
    stmt->Bind(1, task_id);
    if (fencing) stmt->Bind(2, AsInt(*fencing));
    if (fencing && index) stmt->Bind(3, int64_t{*index});
    RETURN_IF_ERROR(stmt->Run());
  }
  if (db_->Changes() == 0) return std::vector<std::string>();
  return DeadPacksLocked();
}

Result<std::vector<std::string>> PackIndex::DeadPacks() {
  MutexLock lock(mu_);
  return DeadPacksLocked();
}

Status PackIndex::Forget(std::span<const std::string> dead) {
  if (dead.empty()) return Status::Ok();
  MutexLock lock(mu_);
  return InTransaction([&]() REQUIRES(mu_) -> Status {
    for (const std::string& name : dead) {
      ASSIGN_OR_RETURN(sqlite::ScopedStatement stmt, db_->Prepare(kForgetPack));
      RETURN_IF_ERROR(stmt->Bind(1, name).Run());
    }
    return Status::Ok();
  });
}

Result<bool> PackIndex::Knows(const std::string& name) {
  MutexLock lock(mu_);
  ASSIGN_OR_RETURN(sqlite::ScopedStatement stmt, db_->Prepare(kKnows));
  stmt->Bind(1, name);
  return stmt->Step();
}

Result<int64_t> PackIndex::PackCount() {
  MutexLock lock(mu_);
  ASSIGN_OR_RETURN(sqlite::ScopedStatement stmt, db_->Prepare(kPackCount));
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  return row ? stmt->Int(0) : 0;
}

Status PackIndex::DropPacksWhere(const std::function<bool(const std::string& name)>& gone) {
  MutexLock lock(mu_);
  return InTransaction([&]() REQUIRES(mu_) -> Status {
    std::vector<int64_t> dropped;
    {
      ASSIGN_OR_RETURN(sqlite::ScopedStatement packs, db_->Prepare(kAllPacks));
      while (true) {
        ASSIGN_OR_RETURN(bool row, packs->Step());
        if (!row) break;
        if (gone(packs->Text(1))) dropped.push_back(packs->Int(0));
      }
    }
    if (dropped.empty()) return Status::Ok();
    for (int64_t number : dropped) {
      ASSIGN_OR_RETURN(sqlite::ScopedStatement drop, db_->Prepare(kDropPack));
      RETURN_IF_ERROR(drop->Bind(1, number).Run());
    }
    return db_->Run(kDropOrphanRecords);
  });
}

Result<std::vector<StoredLease>> PackIndex::Leases(const std::optional<StoredLease>& after,
                                                   int limit) {
  MutexLock lock(mu_);
  ASSIGN_OR_RETURN(sqlite::ScopedStatement stmt, db_->Prepare(after ? kNextLeases : kFirstLeases));
  if (after) {
    stmt->Bind(1, after->task_id).Bind(2, AsInt(after->fencing)).Bind(3, int64_t{limit});
  } else {
    stmt->Bind(1, int64_t{limit});
  }
  std::vector<StoredLease> leases;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    leases.push_back({stmt->Text(0), static_cast<uint64_t>(stmt->Int(1))});
  }
  return leases;
}

}  // namespace stipple
