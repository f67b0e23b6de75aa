// PowerLossVfs (tests only): a SQLite VFS over the default one ("unix") that models what a power
// cut leaves on disk, so a test can show that what the SQLite store acknowledged survives one.
//
// The model, per file name (the files of one database: the main file, "-wal", "-journal"):
//  - Data: a write or truncate reaches the real file at once (so reads, locks and the WAL index
//    behave as usual), and is kept as pending for the file's inode; xSync makes the inode's pending
//    writes durable. Nothing else does: the real fsync is skipped, the model alone decides.
//  - Names: a file created, or deleted without SQLite asking to sync its directory, keeps its old
//    durable name state until its directory is synced. As the unix VFS does, the first xSync of a
//    newly created journal or WAL syncs the directory, and xDelete syncs it when asked to; a
//    directory sync makes every current name of that directory durable (and forgets deleted ones).
//  - The "-shm" file (the WAL index) is never durable: SQLite rebuilds it; a restore deletes it.
//
// A cut (CutNow, or armed with CutAtCall to happen just before the n-th write, truncate, sync or
// delete) freezes the image: every durable name with its inode's synced bytes. Every unsynced write
// is dropped; none is kept in part (a real disk may also keep some, or tear a sector; not modeled).
// The process "goes on" after a cut, but nothing it writes reaches the image; a file it opens
// for the first time after the cut is in the image as it is on disk (no write of it was seen). Once
// every connection is closed, RestoreImage rewrites the files on disk as the image says and forgets
// the model; files seen next are taken as durable as they are on disk.
//
// Thread-safe. The VFS must outlive every connection opened through it.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/thread_annotations.h"

namespace stipple::sqlite::testing {

class PowerLossVfs {
 public:
  // Registers a VFS named `name` (not the default) over the default VFS. kAlreadyExists when a
  // VFS of that name is registered.
  static Result<std::unique_ptr<PowerLossVfs>> Register(const std::string& name);
  ~PowerLossVfs();  // unregisters it
  PowerLossVfs(const PowerLossVfs&) = delete;
  PowerLossVfs& operator=(const PowerLossVfs&) = delete;

  const std::string& name() const { return name_; }

  // The cut happens just before the n-th write, truncate, sync or delete from now (n >= 1).
  void CutAtCall(int64_t n);
  void CutNow();
  bool cut();
  // Counts a call of another layer on the same power (it may be the one that cuts): files
  // synced outside SQLite (results/testing/power_loss_files.h).
  void Tick();
  // Runs at the cut, under the VFS's lock: cut the other layers on the same power here.
  void SetOnCut(std::function<void()> on_cut);
  // Writes, truncates, syncs and deletes seen since the last restore (or registration).
  int64_t calls();

  // After a cut, with every connection closed: makes the files of every database this VFS saw
  // what the image says (a file not in it is deleted, "-shm" files too) and forgets the model.
  Status RestoreImage();

  // The io methods and the VFS entry points (implementation detail, public for the C callbacks).
  struct Inode {
    std::string synced;  // the bytes an fsync made durable
    struct Pending {
      int64_t offset;
      std::string data;       // bytes written at offset
      bool truncate = false;  // true: a truncate to offset (no data)
    };
    std::vector<Pending> pending;
  };
  struct OpenFile;  // sqlite3_file subclass
  int Open(const char* name, OpenFile* file, int flags, int* out_flags);
  int Delete(const char* name, int sync_dir);
  int Write(OpenFile* file, const void* data, int amount, sqlite3_int64 offset);
  int Truncate(OpenFile* file, sqlite3_int64 size);
  int Sync(OpenFile* file, int flags);
  sqlite3_vfs* real() const { return real_; }

 private:
  PowerLossVfs(std::string name, sqlite3_vfs* real);
  // Counts a call and cuts just before it when it is the armed one.
  void CountCall() REQUIRES(mu_);
  void TakeImage() REQUIRES(mu_);
  void SyncDirectory(const std::string& dir) REQUIRES(mu_);
  static void ApplyPending(Inode& inode);

  const std::string name_;
  sqlite3_vfs* const real_;
  sqlite3_vfs vfs_{};
  Mutex mu_;
  std::map<std::string, std::shared_ptr<Inode>> current_ GUARDED_BY(mu_);  // names now
  std::map<std::string, std::shared_ptr<Inode>> durable_ GUARDED_BY(mu_);  // names a cut keeps
  std::vector<std::string> main_files_ GUARDED_BY(mu_);  // databases seen (their -shm files)
  int64_t calls_ GUARDED_BY(mu_) = 0;
  int64_t cut_at_ GUARDED_BY(mu_) = 0;  // 0: not armed
  std::function<void()> on_cut_ GUARDED_BY(mu_);
  std::optional<std::map<std::string, std::string>> image_ GUARDED_BY(mu_);  // after a cut
};

}  // namespace stipple::sqlite::testing
