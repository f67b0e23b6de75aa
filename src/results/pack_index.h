// PackIndex: where FsResultStore's packed records are (fs_result_store.h) — a small SQLite
// database beside the packs, "<dir>/.batches/index.db", instead of a map in memory.
//
// Why a database: the index holds an entry per packed output for as long as the output is kept
// (a day by default). In memory that grew with the outputs kept (about 410 bytes of heap per image:
// 680 MiB for a day at 20 images a second) and Open read every pack's record headers to rebuild
// it. On disk it costs the process a bounded page cache whatever the number of entries, and Open
// reads nothing but the packs the index does not know yet.
//
// Schema (version 1, PRAGMA user_version):
//   packs(number INTEGER PRIMARY KEY, name TEXT UNIQUE, live INTEGER): a pack file under
//     .batches and how many records of the index are in it. live is kept by triggers on records
//     (insert +1, delete −1, a record moved to another pack −1/+1), so no path can forget it.
//     A pack at live 0 is dead: its file is unlinked, then its row dropped (Forget); a crash in
//     between leaves the row, and DeadPacks names it to the next Open (a partial index finds them).
//   records(task, fencing, idx, pack, pos, size, sha256) WITHOUT ROWID, primary key (task,
//     fencing, idx): the key's packed copy — the pack by number, the payload's offset and size,
//     the SHA-256 as a 32-byte blob. Clustered by task id (ULIDs: writes go to the right edge),
//     and a task's leases are a range of it (Remove, Leases).
//
// Durability: WAL, synchronous=NORMAL with sync (OFF without). A commit survives a crash of the
// process at once, and a power cut once the WAL is next synced (a checkpoint). Every row but a
// deletion can be made again from the packs, which PutBatch has fsynced before it adds their rows:
// the store indexes packs the index does not know at Open (fs_result_store.h). So an fsync per
// commit (FULL) would buy nothing for a stored record and cost a third fsync per batch; what a
// power cut can undo is a recent deletion, as it can for the single files (whose unlinks are not
// synced either), and the housekeeper's sweep of outputs no lease owns deletes those again.
//
// Memory: one connection, its prepared statements kept; SQLite's page cache is bounded at
// 2,000 KiB (cache_size = -2000, SQLite's default, set explicitly), no mmap.
//
// Thread-safe: one mutex guards the connection; every call takes it for its statements only.
// One connection rather than readers beside the writer: a lookup waits for at most one commit,
// which waits for no fsync but, about every thousand pages of WAL, a checkpoint's two.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/status.h"
#include "common/thread_annotations.h"
#include "results/result_store.h"

namespace stipple {

namespace sqlite {
class Connection;
}  // namespace sqlite

struct PackIndexOptions {
  std::string path;  // the database file (created if missing)
  bool sync = true;  // false: synchronous=OFF (tests, benchmarks)
  // The SQLite VFS to open it through; empty: SQLite's default. For tests
  // (store/sqlite/testing/power_loss_vfs.h models a power cut).
  std::string vfs;
};

// One record of a pack: its key and where its payload is in the pack file.
struct PackedRecord {
  std::string task_id;
  uint64_t fencing = 0;
  int index = 0;
  uint64_t offset = 0;  // of the payload, from the start of the pack file
  uint64_t size = 0;
  Sha256Digest sha256{};
};

// Where the packed copy of a key is.
struct PackedLocation {
  std::string pack;  // file name under the packs' directory
  uint64_t offset = 0;
  uint64_t size = 0;
  Sha256Digest sha256{};
};

// A pack file found on disk, with the records read from its headers.
struct FoundPack {
  std::string name;
  std::vector<PackedRecord> records;
};

class PackIndex {
 public:
  // Opens the database, creating it with the schema if it is missing or empty. A file that is
  // not a readable database of this schema (garbage, a corrupt header, another version) is
  // deleted (through the VFS) and made anew, empty: rebuilt() says so.
  static Result<std::unique_ptr<PackIndex>> Open(const PackIndexOptions& options);
  ~PackIndex();
  PackIndex(const PackIndex&) = delete;
  PackIndex& operator=(const PackIndex&) = delete;

  bool rebuilt() const { return rebuilt_; }

  // Adds pack `name` (not known yet) and its records, in one transaction; each record replaces
  // the packed copy of its key, wherever it is (the last write wins). Returns the names of the
  // packs left without a record (dead: unlink each, then Forget them).
  Result<std::vector<std::string>> Add(const std::string& name,
                                       std::span<const PackedRecord> records);
  // Adds packs found on disk that the index did not know (Open), in one transaction and in the
  // order given. A record replaces the copy of its key only when that copy's pack name sorts
  // before its own (pack names grow with time: the later write wins), or is its own (the later
  // record of the pack); a pack none of whose records won is added dead. Returns the dead packs,
  // as Add.
  Result<std::vector<std::string>> AddFound(std::span<const FoundPack> packs);

  // The packed copy of a key; nullopt when there is none.
  Result<std::optional<PackedLocation>> Find(const std::string& task_id, uint64_t fencing,
                                             int index);

  // Drops the records of a task; with `fencing`, of that lease only; with `index` as well, that
  // one record. Returns the dead packs, as Add (empty when nothing was dropped).
  Result<std::vector<std::string>> Remove(const std::string& task_id,
                                          std::optional<uint64_t> fencing = std::nullopt,
                                          std::optional<int> index = std::nullopt);

  // Every dead pack (live 0) whose row is still there.
  Result<std::vector<std::string>> DeadPacks();
  // Drops the rows of these packs, those still dead (call once their files are unlinked).
  Status Forget(std::span<const std::string> dead);

  // Whether a pack of this name has a row.
  Result<bool> Knows(const std::string& name);
  // How many packs have a row.
  Result<int64_t> PackCount();
  // Drops every pack for which `gone(name)` is true, with its records, in one transaction
  // (Open: packs whose file is missing). Runs `gone` once per pack, under the index's lock.
  Status DropPacksWhere(const std::function<bool(const std::string& name)>& gone);

  // Up to `limit` leases that hold packed records, in (task id, fencing) order, from the first
  // after `after` (nullopt: from the start). A page at a time, so the lock is not held across
  // the whole table.
  Result<std::vector<StoredLease>> Leases(const std::optional<StoredLease>& after, int limit);

 private:
  explicit PackIndex(std::unique_ptr<sqlite::Connection> db);
  static Result<std::unique_ptr<PackIndex>> TryOpen(const PackIndexOptions& options);
  // Runs `body` in one write transaction, rolled back when it fails.
  Status InTransaction(const std::function<Status()>& body) REQUIRES(mu_);
  Result<std::vector<std::string>> DeadPacksLocked() REQUIRES(mu_);
  // Inserts pack `name` and its records (only_over_earlier: as AddFound, else as Add).
  Status AddRecords(const std::string& name, std::span<const PackedRecord> records,
                    bool only_over_earlier) REQUIRES(mu_);

  Mutex mu_;
  const std::unique_ptr<sqlite::Connection> db_ PT_GUARDED_BY(mu_);
  bool rebuilt_ = false;
};

}  // namespace stipple
