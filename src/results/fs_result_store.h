// FsResultStore: the embedded ResultStore — one file per output under a directory of the data
// dir: <dir>/<task_id>/<fencing>-<index>.out.
//
// A file is a 48-byte header (magic "STPOUT1\n", the SHA-256 of the payload, the payload's size
// as 8 bytes little-endian) and then the bytes. The checksum travels inside the file so a record
// is one file and one rename: there is no second file that could be left behind or disagree.
//
// Put writes "<dir>/<task_id>/.tmp-<random>", fsyncs it, renames it over the final name and
// fsyncs the directory (and the parent, when the task's directory is new). rename(2) replaces
// atomically, so a reader opens either the old file or the complete new one. A crash can leave
// a temp file behind; Open removes them.
//
// PutBatch (a worker's batch) writes every record into ONE pack file instead,
// "<dir>/.batches/<id>.pack": the magic "STPPACK1", then per record its key (task id length as
// one byte, the id, fencing 8 bytes and index 4 bytes, little-endian), the SHA-256, the size
// (8 bytes) and the bytes. It is written as ".batches/.tmp-<random>", fsynced once, renamed and
// the one directory fsynced once: two fsyncs per batch whatever its size, against two or three
// per image for Put. Then its records go into the pack index, a SQLite database beside the packs
// (".batches/index.db", pack_index.h: why it is on disk, its schema and its durability), in one
// transaction that waits for no fsync: every row of it can be made again from the pack, which is
// durable already. The process's memory does not grow with the packed records kept.
//
// Open reconciles the index with the packs, reading no pack the index knows:
//  - a pack whose last record was dropped but whose file a crash kept is unlinked;
//  - a pack file the index does not know (a crash between the pack's rename and the index's
//    commit, or an index that is new: missing, or unreadable and made anew) is indexed from its
//    record headers, a pack cut short keeping its whole records; between two packs that hold a
//    key, the later name (ids grow with time) wins;
//  - a pack the index knows whose file is gone is dropped with its records (counted first: no
//    stat per pack unless one is missing).
// A pack is unlinked when its last record is dropped, after the commit that dropped it. A record
// deleted from a pack that others keep alive stays deleted after a restart (its row is gone);
// after a power cut, a recent deletion may be undone, as for single files (pack_index.h).
//
// A record of a key written both ways: the single file wins (PutBatch removes an older single
// file of its keys once the pack is indexed; Put drops an older packed record), so the last write
// wins, also after a restart. The store must be the only writer of its directory (one process:
// `stipple serve`).
//
// Thread-safe: every call may come from any thread (gateway handlers, the worker's runner, the
// housekeeper). The pack index has its own lock; files are written and read outside it.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/file.h"
#include "results/pack_index.h"
#include "results/result_store.h"

namespace stipple {

struct FsResultStoreOptions {
  std::string dir;  // created (with parents) if missing
  // false: skip the fsyncs (tests, benchmarks). A crash of the machine may then lose a record
  // that Put acknowledged; still never a partial one that Get accepts (the checksum catches it).
  bool sync = true;
  // What the fsyncs go through (with sync); null: fsync(2). Must outlive the store. For tests
  // (results/testing/power_loss_files.h models a power cut).
  FileSyncer* syncer = nullptr;
  // The SQLite VFS the pack index is opened through; empty: SQLite's default. For tests
  // (store/sqlite/testing/power_loss_vfs.h models a power cut).
  std::string index_vfs;
};

class FsResultStore final : public ResultStore {
 public:
  // Creates the directory if needed, removes temp files left by a crash, opens the pack index
  // and reconciles it with the packs (see the file comment).
  static Result<std::unique_ptr<FsResultStore>> Open(const FsResultStoreOptions& options);

  // Whether a file of the packs' directory is one of the pack index's (its database and
  // SQLite's files beside it), for tests that model the disk under the store.
  static bool IsIndexFile(std::string_view file_name);

  Result<StoredOutput> Put(const std::string& task_id, uint64_t fencing, int index,
                           std::string_view bytes) override;
  Result<std::vector<StoredOutput>> PutBatch(std::span<const OutputToStore> outputs) override;
  Result<OutputBytes> Get(const std::string& task_id, uint64_t fencing, int index) override;
  Status DeleteLease(const std::string& task_id, uint64_t fencing) override;
  Status Delete(const std::string& task_id) override;
  // Each "<dir>/<task>/<fencing>-<index>.out" and each packed record counts; files being written
  // (temporary) do not.
  Result<std::vector<StoredLease>> ListLeases() override;

  // The file that holds a record written by Put (for tests that damage one on purpose).
  std::string PathOf(const std::string& task_id, uint64_t fencing, int index) const;
  // The pack file that holds a record written by PutBatch, with the record's payload offset;
  // kNotFound when the record is not packed (tests).
  Result<std::pair<std::string, uint64_t>> PackedAt(const std::string& task_id, uint64_t fencing,
                                                    int index);
  // How many packs the index knows (each holds live records; tests).
  size_t PackCount();

 private:
  FsResultStore(FsResultStoreOptions options, std::unique_ptr<PackIndex> index)
      : options_(std::move(options)), index_(std::move(index)) {}
  // The fsyncs' seam, or null without sync.
  FileSyncer* syncer() const;
  std::string PacksDir() const;
  // Open's reconciliation of the index with the pack files (see the file comment).
  Status Reconcile();
  // Indexes packs the index does not know (sorted by name), from their record headers.
  Status IndexFoundPacks(std::vector<std::string> names);
  // Unlinks packs that hold no record any more, then drops their rows. Best effort: a pack left
  // behind stays dead in the index, and the next Open unlinks it.
  void DropDeadPacks(const std::vector<std::string>& names);
  Result<OutputBytes> GetPacked(const std::string& task_id, uint64_t fencing, int index);

  const FsResultStoreOptions options_;
  const std::unique_ptr<PackIndex> index_;  // thread-safe on its own
};

}  // namespace stipple
