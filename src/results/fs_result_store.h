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
// per image for Put. Packed records are found through an index in memory (task → lease, index →
// pack, offset), rebuilt by Open from the packs' record headers; a pack is unlinked when its
// last record is deleted. A record of a key written both ways: the single file wins (PutBatch
// removes an older single file of its keys once the pack is durable; Put forgets an older
// packed record), so the last write wins, also after a restart. The store must be the only
// writer of its directory (one process: `stipple serve`).
//
// Thread-safe: every call may come from any thread (gateway handlers, the worker's runner, the
// housekeeper). mu_ guards the pack index only; files are written and read outside it.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/digest.h"
#include "common/file.h"
#include "common/thread_annotations.h"
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
};

class FsResultStore final : public ResultStore {
 public:
  // Creates the directory if needed and removes temp files left by a crash.
  static Result<std::unique_ptr<FsResultStore>> Open(const FsResultStoreOptions& options);

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
  // How many pack files hold live records (tests).
  size_t PackCount();

 private:
  // Where a packed record's payload is. The index holds one per packed output for as long as
  // the output is kept (a day by default), so it is kept small: no strings of its own (the pack
  // by number, the checksum as bytes), one vector per task (a task has few outputs).
  struct PackedRecord {
    uint64_t fencing = 0;
    uint64_t offset = 0;
    uint64_t size = 0;
    int32_t index = 0;
    uint32_t pack = 0;  // a key of packs_
    Sha256Digest sha256{};
  };
  struct Pack {
    std::string name;  // file name under .batches
    int records = 0;   // live records
  };

  explicit FsResultStore(FsResultStoreOptions options) : options_(std::move(options)) {}
  // The fsyncs' seam, or null without sync.
  FileSyncer* syncer() const {
    return !options_.sync ? nullptr : options_.syncer ? options_.syncer : &SystemFileSyncer();
  }
  std::string PacksDir() const;
  // Reads the record headers of every pack into the index (Open); unreadable tails are skipped.
  Status LoadPacks();
  Result<OutputBytes> GetPacked(const std::string& task_id, uint64_t fencing, int index);
  // A number for a new pack file.
  uint32_t AddPack(std::string name) REQUIRES(mu_);
  // Records `record` as the packed copy of its key for `task_id` (the last write wins; the record
  // it replaces, if any, is forgotten).
  void IndexPacked(const std::string& task_id, const PackedRecord& record) REQUIRES(mu_);
  // Drops one record from the index, unlinking its pack when it was the last one.
  void ForgetPacked(uint32_t pack) REQUIRES(mu_);

  const FsResultStoreOptions options_;
  Mutex mu_;
  // task id → its packed records.
  std::unordered_map<std::string, std::vector<PackedRecord>> packed_ GUARDED_BY(mu_);
  std::unordered_map<uint32_t, Pack> packs_ GUARDED_BY(mu_);
  uint32_t next_pack_ GUARDED_BY(mu_) = 1;
};

}  // namespace stipple
