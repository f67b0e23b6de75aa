#include "store/sqlite/testing/power_loss_vfs.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace stipple::sqlite::testing {

namespace fs = std::filesystem;

// The file SQLite holds: our methods first, then the real VFS's file (its szOsFile bytes).
struct PowerLossVfs::OpenFile {
  sqlite3_file base;
  PowerLossVfs* vfs;
  std::string* name;                    // null: a temp file (not modeled)
  std::shared_ptr<Inode>* inode;        // the inode this handle writes
  bool sync_dir_on_first_sync = false;  // a new journal or WAL, as the unix VFS does
  sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};

namespace {

using OpenFile = PowerLossVfs::OpenFile;

OpenFile* Of(sqlite3_file* f) { return reinterpret_cast<OpenFile*>(f); }
const sqlite3_io_methods* Real(sqlite3_file* f) { return Of(f)->real()->pMethods; }

std::string DirOf(const std::string& path) { return fs::path(path).parent_path().string(); }

int Close(sqlite3_file* f) {
  OpenFile* file = Of(f);
  int rc = Real(f)->xClose(file->real());
  delete file->name;
  delete file->inode;
  return rc;
}
int Read(sqlite3_file* f, void* out, int amount, sqlite3_int64 offset) {
  return Real(f)->xRead(Of(f)->real(), out, amount, offset);
}
int Write(sqlite3_file* f, const void* data, int amount, sqlite3_int64 offset) {
  return Of(f)->vfs->Write(Of(f), data, amount, offset);
}
int Truncate(sqlite3_file* f, sqlite3_int64 size) { return Of(f)->vfs->Truncate(Of(f), size); }
int Sync(sqlite3_file* f, int flags) { return Of(f)->vfs->Sync(Of(f), flags); }
int FileSize(sqlite3_file* f, sqlite3_int64* size) {
  return Real(f)->xFileSize(Of(f)->real(), size);
}
int Lock(sqlite3_file* f, int level) { return Real(f)->xLock(Of(f)->real(), level); }
int Unlock(sqlite3_file* f, int level) { return Real(f)->xUnlock(Of(f)->real(), level); }
int CheckReservedLock(sqlite3_file* f, int* out) {
  return Real(f)->xCheckReservedLock(Of(f)->real(), out);
}
int FileControl(sqlite3_file* f, int op, void* arg) {
  return Real(f)->xFileControl(Of(f)->real(), op, arg);
}
int SectorSize(sqlite3_file* f) { return Real(f)->xSectorSize(Of(f)->real()); }
int DeviceCharacteristics(sqlite3_file* f) {
  return Real(f)->xDeviceCharacteristics(Of(f)->real());
}
int ShmMap(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return Real(f)->xShmMap(Of(f)->real(), region, size, extend, out);
}
int ShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return Real(f)->xShmLock(Of(f)->real(), offset, n, flags);
}
void ShmBarrier(sqlite3_file* f) { Real(f)->xShmBarrier(Of(f)->real()); }
int ShmUnmap(sqlite3_file* f, int delete_flag) {
  return Real(f)->xShmUnmap(Of(f)->real(), delete_flag);
}
// Memory-mapped reads are turned down (SQLite then reads with xRead); writes never use them.
int Fetch(sqlite3_file*, sqlite3_int64, int, void** out) {
  *out = nullptr;
  return SQLITE_OK;
}
int Unfetch(sqlite3_file*, sqlite3_int64, void*) { return SQLITE_OK; }

const sqlite3_io_methods kMethods = {
    3,
    Close,
    Read,
    Write,
    Truncate,
    Sync,
    FileSize,
    Lock,
    Unlock,
    CheckReservedLock,
    FileControl,
    SectorSize,
    DeviceCharacteristics,
    ShmMap,
    ShmLock,
    ShmBarrier,
    ShmUnmap,
    Fetch,
    Unfetch,
};

PowerLossVfs* Self(sqlite3_vfs* v) { return static_cast<PowerLossVfs*>(v->pAppData); }
sqlite3_vfs* RealVfs(sqlite3_vfs* v) { return Self(v)->real(); }

int VfsOpen(sqlite3_vfs* v, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  return Self(v)->Open(name, Of(f), flags, out_flags);
}
int VfsDelete(sqlite3_vfs* v, const char* name, int sync_dir) {
  return Self(v)->Delete(name, sync_dir);
}
int VfsAccess(sqlite3_vfs* v, const char* name, int flags, int* out) {
  return RealVfs(v)->xAccess(RealVfs(v), name, flags, out);
}
int VfsFullPathname(sqlite3_vfs* v, const char* name, int n, char* out) {
  return RealVfs(v)->xFullPathname(RealVfs(v), name, n, out);
}
void* VfsDlOpen(sqlite3_vfs* v, const char* name) { return RealVfs(v)->xDlOpen(RealVfs(v), name); }
void VfsDlError(sqlite3_vfs* v, int n, char* out) { RealVfs(v)->xDlError(RealVfs(v), n, out); }
void (*VfsDlSym(sqlite3_vfs* v, void* handle, const char* symbol))(void) {
  return RealVfs(v)->xDlSym(RealVfs(v), handle, symbol);
}
void VfsDlClose(sqlite3_vfs* v, void* handle) { RealVfs(v)->xDlClose(RealVfs(v), handle); }
int VfsRandomness(sqlite3_vfs* v, int n, char* out) {
  return RealVfs(v)->xRandomness(RealVfs(v), n, out);
}
int VfsSleep(sqlite3_vfs* v, int micros) { return RealVfs(v)->xSleep(RealVfs(v), micros); }
int VfsCurrentTime(sqlite3_vfs* v, double* out) {
  return RealVfs(v)->xCurrentTime(RealVfs(v), out);
}
int VfsGetLastError(sqlite3_vfs* v, int n, char* out) {
  return RealVfs(v)->xGetLastError(RealVfs(v), n, out);
}
int VfsCurrentTimeInt64(sqlite3_vfs* v, sqlite3_int64* out) {
  return RealVfs(v)->xCurrentTimeInt64(RealVfs(v), out);
}

Result<std::string> ReadWholeFile(const std::string& path) {
  std::string data;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return UnavailableError("open " + path + ": " + std::strerror(errno));
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) data.append(buf, static_cast<size_t>(n));
  ::close(fd);
  if (n < 0) return UnavailableError("read " + path + ": " + std::strerror(errno));
  return data;
}

}  // namespace

Result<std::unique_ptr<PowerLossVfs>> PowerLossVfs::Register(const std::string& name) {
  if (sqlite3_vfs_find(name.c_str()) != nullptr) {
    return AlreadyExistsError("a SQLite VFS named " + name + " is registered");
  }
  sqlite3_vfs* real = sqlite3_vfs_find(nullptr);
  if (real == nullptr) return InternalError("SQLite has no default VFS");
  std::unique_ptr<PowerLossVfs> vfs(new PowerLossVfs(name, real));
  int rc = sqlite3_vfs_register(&vfs->vfs_, 0);
  if (rc != SQLITE_OK) return InternalError("register VFS " + name + ": " + sqlite3_errstr(rc));
  return vfs;
}

PowerLossVfs::PowerLossVfs(std::string name, sqlite3_vfs* real)
    : name_(std::move(name)), real_(real) {
  vfs_.iVersion = 2;
  vfs_.szOsFile = static_cast<int>(sizeof(OpenFile)) + real->szOsFile;
  vfs_.mxPathname = real->mxPathname;
  vfs_.zName = name_.c_str();
  vfs_.pAppData = this;
  vfs_.xOpen = VfsOpen;
  vfs_.xDelete = VfsDelete;
  vfs_.xAccess = VfsAccess;
  vfs_.xFullPathname = VfsFullPathname;
  vfs_.xDlOpen = VfsDlOpen;
  vfs_.xDlError = VfsDlError;
  vfs_.xDlSym = VfsDlSym;
  vfs_.xDlClose = VfsDlClose;
  vfs_.xRandomness = VfsRandomness;
  vfs_.xSleep = VfsSleep;
  vfs_.xCurrentTime = VfsCurrentTime;
  vfs_.xGetLastError = VfsGetLastError;
  vfs_.xCurrentTimeInt64 = VfsCurrentTimeInt64;
}

PowerLossVfs::~PowerLossVfs() { sqlite3_vfs_unregister(&vfs_); }

void PowerLossVfs::CutAtCall(int64_t n) {
  MutexLock lock(mu_);
  cut_at_ = calls_ + n;
}

void PowerLossVfs::CutNow() {
  MutexLock lock(mu_);
  TakeImage();
}

bool PowerLossVfs::cut() {
  MutexLock lock(mu_);
  return image_.has_value();
}

int64_t PowerLossVfs::calls() {
  MutexLock lock(mu_);
  return calls_;
}

void PowerLossVfs::Tick() {
  MutexLock lock(mu_);
  CountCall();
}

void PowerLossVfs::SetOnCut(std::function<void()> on_cut) {
  MutexLock lock(mu_);
  on_cut_ = std::move(on_cut);
}

void PowerLossVfs::CountCall() {
  ++calls_;
  if (cut_at_ != 0 && calls_ >= cut_at_) {
    cut_at_ = 0;
    TakeImage();  // before this call takes effect
  }
}

void PowerLossVfs::TakeImage() {
  if (image_) return;
  image_.emplace();
  for (const auto& [name, inode] : durable_) (*image_)[name] = inode->synced;
  if (on_cut_) on_cut_();
}

void PowerLossVfs::ApplyPending(Inode& inode) {
  for (const Inode::Pending& p : inode.pending) {
    const size_t offset = static_cast<size_t>(p.offset);
    if (p.truncate) {
      inode.synced.resize(offset);
      continue;
    }
    if (inode.synced.size() < offset + p.data.size()) inode.synced.resize(offset + p.data.size());
    inode.synced.replace(offset, p.data.size(), p.data);
  }
  inode.pending.clear();
}

void PowerLossVfs::SyncDirectory(const std::string& dir) {
  for (auto it = durable_.begin(); it != durable_.end();) {
    it = DirOf(it->first) == dir ? durable_.erase(it) : std::next(it);
  }
  for (const auto& [name, inode] : current_) {
    if (DirOf(name) == dir) durable_[name] = inode;
  }
}

int PowerLossVfs::Open(const char* name, OpenFile* file, int flags, int* out_flags) {
  file->base.pMethods = nullptr;
  file->vfs = this;
  file->name = nullptr;
  file->inode = nullptr;
  file->sync_dir_on_first_sync = false;
  MutexLock lock(mu_);
  int exists = 0;
  if (name != nullptr) real_->xAccess(real_, name, SQLITE_ACCESS_EXISTS, &exists);
  int rc = real_->xOpen(real_, name, file->real(), flags, out_flags);
  if (rc != SQLITE_OK) return rc;
  file->base.pMethods = &kMethods;
  if (name == nullptr || (flags & SQLITE_OPEN_DELETEONCLOSE)) return SQLITE_OK;  // temp files
  const std::string path = name;
  auto& inode = current_[path];
  if (!inode) {
    inode = std::make_shared<Inode>();
    if (exists) {  // first seen: durable as it is on disk
      Result<std::string> bytes = ReadWholeFile(path);
      if (!bytes.ok()) {
        file->real()->pMethods->xClose(file->real());
        file->base.pMethods = nullptr;
        return SQLITE_IOERR;
      }
      inode->synced = std::move(*bytes);
      durable_[path] = inode;
      // First seen after a cut: nothing this VFS saw wrote it, so the cut left it as it is.
      if (image_) (*image_)[path] = inode->synced;
    } else {
      file->sync_dir_on_first_sync =
          (flags & (SQLITE_OPEN_MAIN_JOURNAL | SQLITE_OPEN_SUPER_JOURNAL | SQLITE_OPEN_WAL)) != 0;
    }
  }
  if (flags & SQLITE_OPEN_MAIN_DB) {
    if (std::find(main_files_.begin(), main_files_.end(), path) == main_files_.end()) {
      main_files_.push_back(path);
    }
  }
  file->name = new std::string(path);
  file->inode = new std::shared_ptr<Inode>(inode);
  return SQLITE_OK;
}

int PowerLossVfs::Delete(const char* name, int sync_dir) {
  MutexLock lock(mu_);
  CountCall();
  int rc = real_->xDelete(real_, name, 0);
  if (rc != SQLITE_OK) return rc;
  current_.erase(name);
  if (sync_dir) SyncDirectory(DirOf(name));
  return SQLITE_OK;
}

int PowerLossVfs::Write(OpenFile* file, const void* data, int amount, sqlite3_int64 offset) {
  MutexLock lock(mu_);
  CountCall();
  int rc = file->real()->pMethods->xWrite(file->real(), data, amount, offset);
  if (rc == SQLITE_OK && file->inode) {
    (*file->inode)
        ->pending.push_back(
            {offset, std::string(static_cast<const char*>(data), static_cast<size_t>(amount))});
  }
  return rc;
}

int PowerLossVfs::Truncate(OpenFile* file, sqlite3_int64 size) {
  MutexLock lock(mu_);
  CountCall();
  int rc = file->real()->pMethods->xTruncate(file->real(), size);
  if (rc == SQLITE_OK && file->inode) (*file->inode)->pending.push_back({size, "", true});
  return rc;
}

int PowerLossVfs::Sync(OpenFile* file, int) {
  MutexLock lock(mu_);
  CountCall();
  if (file->inode == nullptr) return SQLITE_OK;
  ApplyPending(**file->inode);
  if (file->sync_dir_on_first_sync) {
    file->sync_dir_on_first_sync = false;
    SyncDirectory(DirOf(*file->name));
  }
  return SQLITE_OK;
}

Status PowerLossVfs::RestoreImage() {
  MutexLock lock(mu_);
  if (!image_) return FailedPreconditionError("power-loss VFS " + name_ + ": no cut to restore");
  std::vector<std::string> names;
  for (const auto& [name, inode] : current_) names.push_back(name);
  for (const auto& [name, inode] : durable_) names.push_back(name);
  for (const std::string& main : main_files_) {
    for (const char* suffix : {"", "-wal", "-journal", "-shm"}) names.push_back(main + suffix);
  }
  for (const std::string& name : names) {
    if (::unlink(name.c_str()) != 0 && errno != ENOENT) {
      return UnavailableError("restore: unlink " + name + ": " + std::strerror(errno));
    }
  }
  for (const auto& [name, bytes] : *image_) {
    int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return UnavailableError("restore: create " + name + ": " + std::strerror(errno));
    bool ok = ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
    ::close(fd);
    if (!ok) return UnavailableError("restore: write " + name);
  }
  current_.clear();
  durable_.clear();
  main_files_.clear();
  image_.reset();
  cut_at_ = 0;
  calls_ = 0;
  return Status::Ok();
}

}  // namespace stipple::sqlite::testing
