#include "results/fs_result_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <set>
#include <system_error>

#include "common/digest.h"
#include "common/hex.h"
#include "common/id.h"
#include "common/log.h"

namespace stipple {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'S', 'T', 'P', 'O', 'U', 'T', '1', '\n'};
constexpr size_t kDigestBytes = 32;
constexpr size_t kHeaderBytes = sizeof(kMagic) + kDigestBytes + 8;
constexpr std::string_view kTempPrefix = ".tmp-";
constexpr char kPackMagic[8] = {'S', 'T', 'P', 'P', 'A', 'C', 'K', '1'};
constexpr std::string_view kPacksDir = ".batches";
constexpr std::string_view kPackSuffix = ".pack";
constexpr std::string_view kIndexFile = "index.db";
// Packs whose headers Open reads before it hands them to the index in one transaction.
constexpr size_t kFoundPacksPerTransaction = 64;
// Leases read from the index at a time by ListLeases.
constexpr int kLeasesPerPage = 1024;

void PutLe(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t GetLe(std::string_view in, size_t at, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) {
    value |= static_cast<uint64_t>(static_cast<unsigned char>(in[at + static_cast<size_t>(i)]))
             << (8 * i);
  }
  return value;
}

// Reads exactly `size` bytes at `offset`; fewer when the file ends first.
Result<std::string> ReadAt(int fd, uint64_t offset, size_t size, const std::string& path);

Status ErrnoError(std::string_view what, const std::string& path, int err) {
  std::string message = std::string(what) + " " + path + ": " + std::strerror(err);
  // A full disk or a read-only file system is the operator's to fix; the caller may retry.
  if (err == ENOSPC || err == EDQUOT || err == EROFS || err == EIO) {
    return UnavailableError(message);
  }
  return InternalError(message);
}

// Closes a file descriptor when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now and reports the error close(2) returns (a deferred write error, on some systems).
  int Close() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

Status WriteAll(int fd, const char* data, size_t size, const std::string& path) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write", path, errno);
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

// Nothing without a syncer (no sync).
Status SyncDir(FileSyncer* syncer, const std::string& dir) {
  if (syncer == nullptr) return Status::Ok();
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoError("open", dir, errno);
  if (syncer->SyncDirectory(fd.get(), dir) != 0) return ErrnoError("fsync", dir, errno);
  return Status::Ok();
}

Status CheckKey(const std::string& task_id, int index) {
  if (!IsValidOutputKey(task_id)) return InvalidArgumentError("not a valid task id: " + task_id);
  if (index < 0) return InvalidArgumentError("output index must not be negative");
  return Status::Ok();
}

Result<std::string> ReadAt(int fd, uint64_t offset, size_t size, const std::string& path) {
  std::string data(size, '\0');
  size_t got = 0;
  while (got < size) {
    ssize_t n = ::pread(fd, data.data() + got, size - got, static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read", path, errno);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  data.resize(got);
  return data;
}

// Writes `data` as a new file at `final_path` through a temp file in `dir`: fsync (with a
// syncer), rename. The caller fsyncs the directory.
Status WriteFileAtomically(const std::string& dir, const std::string& final_path,
                           std::span<const std::string_view> data, FileSyncer* syncer) {
  const std::string temp = dir + "/" + std::string(kTempPrefix) + NewId("tmp");
  Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) return ErrnoError("create", temp, errno);
  Status written = Status::Ok();
  for (std::string_view part : data) {
    if (written.ok()) written = WriteAll(fd.get(), part.data(), part.size(), temp);
  }
  if (written.ok() && syncer != nullptr && syncer->SyncFile(fd.get(), temp) != 0) {
    written = ErrnoError("fsync", temp, errno);
  }
  if (written.ok() && fd.Close() != 0) written = ErrnoError("close", temp, errno);
  if (written.ok() && ::rename(temp.c_str(), final_path.c_str()) != 0) {
    written = ErrnoError("rename", final_path, errno);
  }
  if (!written.ok()) ::unlink(temp.c_str());
  return written;
}

// The records of a pack file, from its headers: the whole records before any cut (a pack written
// without sync and cut short by a crash) or anything that is not a record of ours.
Result<std::vector<PackedRecord>> ReadPackRecords(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoError("open", path, errno);
  ASSIGN_OR_RETURN(std::string magic, ReadAt(fd.get(), 0, sizeof(kPackMagic), path));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoError("stat", path, errno);
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  std::vector<PackedRecord> records;
  uint64_t at = sizeof(kPackMagic);
  while (magic == std::string_view(kPackMagic, sizeof(kPackMagic))) {
    ASSIGN_OR_RETURN(std::string len, ReadAt(fd.get(), at, 1, path));
    if (len.empty()) break;  // the end
    const size_t id_len = static_cast<unsigned char>(len[0]);
    const size_t head_len = 1 + id_len + 8 + 4 + kDigestBytes + 8;
    ASSIGN_OR_RETURN(std::string head, ReadAt(fd.get(), at, head_len, path));
    if (head.size() < head_len) break;  // cut short (written without sync before a crash)
    PackedRecord record;
    record.task_id = head.substr(1, id_len);
    record.fencing = GetLe(head, 1 + id_len, 8);
    record.index = static_cast<int>(GetLe(head, 1 + id_len + 8, 4));
    std::memcpy(record.sha256.data(), head.data() + 1 + id_len + 12, kDigestBytes);
    record.size = GetLe(head, head_len - 8, 8);
    record.offset = at + head_len;
    if (record.offset + record.size > file_size) break;
    at = record.offset + record.size;
    if (!IsValidOutputKey(record.task_id)) break;  // not ours: stop reading this pack
    records.push_back(std::move(record));
  }
  return records;
}

// The packs' directory of a store.
std::string PacksDirOf(const FsResultStoreOptions& options) {
  return (fs::path(options.dir) / kPacksDir).string();
}

// The fsyncs' seam of a store, or null without sync.
FileSyncer* SyncerOf(const FsResultStoreOptions& options) {
  return !options.sync ? nullptr : options.syncer ? options.syncer : &SystemFileSyncer();
}

}  // namespace

Result<std::unique_ptr<FsResultStore>> FsResultStore::Open(const FsResultStoreOptions& options) {
  if (options.dir.empty()) return InvalidArgumentError("result store: no directory given");
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec) return InternalError("create " + options.dir + ": " + ec.message());
  // Temp files are what a crash in the middle of a Put leaves; no reader ever opens them. The
  // packs' directory is Reconcile's to scan.
  for (auto it = fs::recursive_directory_iterator(options.dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it.depth() == 0 && it->path().filename() == kPacksDir) {
      it.disable_recursion_pending();
    } else if (it->is_regular_file(ec) && it->path().filename().string().starts_with(kTempPrefix)) {
      fs::remove(it->path(), ec);
    }
  }
  if (ec) return InternalError("scan " + options.dir + ": " + ec.message());
  const std::string packs = PacksDirOf(options);
  if (::mkdir(packs.c_str(), 0755) == 0) {
    RETURN_IF_ERROR(SyncDir(SyncerOf(options), options.dir));
  } else if (errno != EEXIST) {
    return ErrnoError("mkdir", packs, errno);
  }
  ASSIGN_OR_RETURN(std::unique_ptr<PackIndex> index,
                   PackIndex::Open({.path = fs::absolute(fs::path(packs) / kIndexFile).string(),
                                    .sync = options.sync,
                                    .vfs = options.index_vfs}));
  if (index->rebuilt()) {
    LogWarn("result store: the pack index was unreadable; made anew from the packs",
            {{"dir", options.dir}});
  }
  std::unique_ptr<FsResultStore> store(new FsResultStore(options, std::move(index)));
  RETURN_IF_ERROR(store->Reconcile());
  return store;
}

bool FsResultStore::IsIndexFile(std::string_view file_name) {
  return file_name == kIndexFile ||
         (file_name.starts_with(kIndexFile) && file_name[kIndexFile.size()] == '-');
}

std::string FsResultStore::PacksDir() const { return PacksDirOf(options_); }

FileSyncer* FsResultStore::syncer() const { return SyncerOf(options_); }

Status FsResultStore::Reconcile() {
  const std::string dir = PacksDir();
  ASSIGN_OR_RETURN(std::vector<std::string> dead, index_->DeadPacks());
  DropDeadPacks(dead);
  std::vector<std::string> found;
  int64_t known = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.starts_with(kTempPrefix)) {
      fs::remove(it->path(), ec);  // a PutBatch cut short
      continue;
    }
    if (!name.ends_with(kPackSuffix)) continue;
    ASSIGN_OR_RETURN(bool knows, index_->Knows(name));
    if (knows) {
      ++known;
    } else {
      found.push_back(std::move(name));
    }
  }
  if (ec) return InternalError("scan " + dir + ": " + ec.message());
  ASSIGN_OR_RETURN(int64_t indexed, index_->PackCount());
  if (known < indexed) {
    RETURN_IF_ERROR(index_->DropPacksWhere([&](const std::string& name) {
      struct stat st {};
      return ::stat((dir + "/" + name).c_str(), &st) != 0 && errno == ENOENT;
    }));
  }
  return IndexFoundPacks(std::move(found));
}

Status FsResultStore::IndexFoundPacks(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());  // ids grow with time: a later pack wins a key
  const std::string dir = PacksDir();
  for (size_t start = 0; start < names.size(); start += kFoundPacksPerTransaction) {
    std::vector<FoundPack> packs;
    for (size_t i = start; i < std::min(names.size(), start + kFoundPacksPerTransaction); ++i) {
      ASSIGN_OR_RETURN(std::vector<PackedRecord> records, ReadPackRecords(dir + "/" + names[i]));
      packs.push_back({names[i], std::move(records)});  // none: added dead, then unlinked
    }
    ASSIGN_OR_RETURN(std::vector<std::string> dead, index_->AddFound(packs));
    DropDeadPacks(dead);
  }
  return Status::Ok();
}

void FsResultStore::DropDeadPacks(const std::vector<std::string>& names) {
  if (names.empty()) return;
  const std::string dir = PacksDir();
  std::vector<std::string> unlinked;
  for (const std::string& name : names) {
    if (::unlink((dir + "/" + name).c_str()) == 0 || errno == ENOENT) unlinked.push_back(name);
  }
  (void)index_->Forget(unlinked);
}

Result<std::vector<StoredOutput>> FsResultStore::PutBatch(std::span<const OutputToStore> outputs) {
  for (const OutputToStore& out : outputs) RETURN_IF_ERROR(CheckKey(out.task_id, out.index));
  std::vector<StoredOutput> stored;
  if (outputs.empty()) return stored;
  std::vector<PackedRecord> records;
  std::vector<std::string> heads;
  heads.reserve(outputs.size());
  const std::string name = NewId("pck") + std::string(kPackSuffix);
  uint64_t at = sizeof(kPackMagic);
  for (const OutputToStore& out : outputs) {
    const Sha256Digest digest = Sha256(out.bytes);
    StoredOutput record;
    record.size_bytes = static_cast<int64_t>(out.bytes.size());
    record.sha256_hex = HexEncode(digest);
    record.etag = EtagForSha256(record.sha256_hex);
    std::string head;
    head.push_back(static_cast<char>(out.task_id.size()));
    head += out.task_id;
    PutLe(head, out.fencing, 8);
    PutLe(head, static_cast<uint64_t>(out.index), 4);
    head += DigestBytes(digest);
    PutLe(head, out.bytes.size(), 8);
    at += head.size();
    records.push_back({.task_id = out.task_id,
                       .fencing = out.fencing,
                       .index = out.index,
                       .offset = at,
                       .size = out.bytes.size(),
                       .sha256 = digest});
    at += out.bytes.size();
    heads.push_back(std::move(head));
    stored.push_back(std::move(record));
  }
  std::vector<std::string_view> parts{std::string_view(kPackMagic, sizeof(kPackMagic))};
  for (size_t i = 0; i < outputs.size(); ++i) {
    parts.push_back(heads[i]);
    parts.push_back(outputs[i].bytes);
  }
  const std::string dir = PacksDir();
  RETURN_IF_ERROR(WriteFileAtomically(dir, dir + "/" + name, parts, syncer()));
  RETURN_IF_ERROR(SyncDir(syncer(), dir));
  // Durable: the pack now holds the last write of each key.
  Result<std::vector<std::string>> dead = index_->Add(name, records);
  if (!dead.ok()) {
    // Not indexed: the caller deletes the batch's records, so no Open may index them either.
    ::unlink((dir + "/" + name).c_str());
    return dead.status();
  }
  for (const OutputToStore& out : outputs) {
    ::unlink(PathOf(out.task_id, out.fencing, out.index).c_str());  // an older single file
  }
  DropDeadPacks(*dead);  // packs whose every record this batch replaced
  return stored;
}

Result<std::pair<std::string, uint64_t>> FsResultStore::PackedAt(const std::string& task_id,
                                                                 uint64_t fencing, int index) {
  ASSIGN_OR_RETURN(std::optional<PackedLocation> at, index_->Find(task_id, fencing, index));
  if (!at) return NotFoundError("not packed");
  return std::make_pair(PacksDir() + "/" + at->pack, at->offset);
}

size_t FsResultStore::PackCount() {
  Result<int64_t> count = index_->PackCount();
  return count.ok() ? static_cast<size_t>(*count) : 0;
}

std::string FsResultStore::PathOf(const std::string& task_id, uint64_t fencing, int index) const {
  return (fs::path(options_.dir) / task_id /
          (std::to_string(fencing) + "-" + std::to_string(index) + ".out"))
      .string();
}

Result<StoredOutput> FsResultStore::Put(const std::string& task_id, uint64_t fencing, int index,
                                        std::string_view bytes) {
  RETURN_IF_ERROR(CheckKey(task_id, index));
  StoredOutput record;
  record.size_bytes = static_cast<int64_t>(bytes.size());
  const Sha256Digest digest = Sha256(bytes);
  record.sha256_hex = HexEncode(digest);
  record.etag = EtagForSha256(record.sha256_hex);

  const std::string dir = (fs::path(options_.dir) / task_id).string();
  bool new_dir = false;
  if (::mkdir(dir.c_str(), 0755) == 0) {
    new_dir = true;
  } else if (errno != EEXIST) {
    return ErrnoError("mkdir", dir, errno);
  }

  std::string header(kMagic, sizeof(kMagic));
  header += DigestBytes(digest);
  uint64_t size = bytes.size();
  for (int i = 0; i < 8; ++i) header.push_back(static_cast<char>((size >> (8 * i)) & 0xff));

  const std::string temp = dir + "/" + std::string(kTempPrefix) + NewId("tmp");
  Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) return ErrnoError("create", temp, errno);
  Status written = WriteAll(fd.get(), header.data(), header.size(), temp);
  if (written.ok()) written = WriteAll(fd.get(), bytes.data(), bytes.size(), temp);
  if (written.ok() && syncer() != nullptr && syncer()->SyncFile(fd.get(), temp) != 0) {
    written = ErrnoError("fsync", temp, errno);
  }
  if (written.ok() && fd.Close() != 0) written = ErrnoError("close", temp, errno);
  const std::string final_path = PathOf(task_id, fencing, index);
  if (written.ok() && ::rename(temp.c_str(), final_path.c_str()) != 0) {
    written = ErrnoError("rename", final_path, errno);
  }
  if (!written.ok()) {
    ::unlink(temp.c_str());
    return written;
  }
  RETURN_IF_ERROR(SyncDir(syncer(), dir));
  if (new_dir) RETURN_IF_ERROR(SyncDir(syncer(), options_.dir));
  // An older packed record of the key is superseded. Should dropping it fail, the single file
  // still wins (Get reads it first), so the Put stands.
  if (Result<std::vector<std::string>> dead = index_->Remove(task_id, fencing, index); dead.ok()) {
    DropDeadPacks(*dead);
  }
  return record;
}

Result<OutputBytes> FsResultStore::GetPacked(const std::string& task_id, uint64_t fencing,
                                             int index) {
  ASSIGN_OR_RETURN(std::optional<PackedLocation> found, index_->Find(task_id, fencing, index));
  if (!found) return NotFoundError("no output " + std::to_string(index) + " of " + task_id);
  const PackedLocation& record = *found;
  const std::string path = PacksDir() + "/" + record.pack;
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    // Deleted since the lookup.
    if (errno == ENOENT)
      return NotFoundError("no output " + std::to_string(index) + " of " + task_id);
    return ErrnoError("open", path, errno);
  }
  ASSIGN_OR_RETURN(std::string bytes, ReadAt(fd.get(), record.offset, record.size, path));
  if (bytes.size() != record.size) {
    return DataLossError("output " + path + " of " + task_id + ": truncated (" +
                         std::to_string(bytes.size()) + " of " + std::to_string(record.size) +
                         " bytes)");
  }
  if (Sha256(bytes) != record.sha256) {
    return DataLossError("output " + path + " of " + task_id + ": checksum mismatch");
  }
  OutputBytes out;
  out.record.size_bytes = static_cast<int64_t>(bytes.size());
  out.record.sha256_hex = HexEncode(record.sha256);
  out.record.etag = EtagForSha256(out.record.sha256_hex);
  out.bytes = std::move(bytes);
  return out;
}

Result<OutputBytes> FsResultStore::Get(const std::string& task_id, uint64_t fencing, int index) {
  RETURN_IF_ERROR(CheckKey(task_id, index));
  const std::string path = PathOf(task_id, fencing, index);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return GetPacked(task_id, fencing, index);
    return ErrnoError("open", path, errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoError("stat", path, errno);
  ASSIGN_OR_RETURN(std::string data, ReadAt(fd.get(), 0, static_cast<size_t>(st.st_size), path));
  if (data.size() < kHeaderBytes || data.compare(0, sizeof(kMagic), kMagic, sizeof(kMagic)) != 0) {
    return DataLossError("output " + path + ": not a stored output (bad header)");
  }
  uint64_t size = 0;
  for (int i = 0; i < 8; ++i) {
    size |= static_cast<uint64_t>(static_cast<unsigned char>(
                data[sizeof(kMagic) + kDigestBytes + static_cast<size_t>(i)]))
            << (8 * i);
  }
  if (size != data.size() - kHeaderBytes) {
    return DataLossError("output " + path + ": truncated (" +
                         std::to_string(data.size() - kHeaderBytes) + " of " +
                         std::to_string(size) + " bytes)");
  }
  OutputBytes out;
  out.record.sha256_hex = HexEncode(std::string_view(data).substr(sizeof(kMagic), kDigestBytes));
  out.bytes = data.substr(kHeaderBytes);
  if (Sha256Hex(out.bytes) != out.record.sha256_hex) {
    return DataLossError("output " + path + ": checksum mismatch");
  }
  out.record.size_bytes = static_cast<int64_t>(out.bytes.size());
  out.record.etag = EtagForSha256(out.record.sha256_hex);
  return out;
}

Status FsResultStore::DeleteLease(const std::string& task_id, uint64_t fencing) {
  if (!IsValidOutputKey(task_id)) return InvalidArgumentError("not a valid task id: " + task_id);
  ASSIGN_OR_RETURN(std::vector<std::string> dead, index_->Remove(task_id, fencing));
  DropDeadPacks(dead);
  const fs::path dir = fs::path(options_.dir) / task_id;
  const std::string prefix = std::to_string(fencing) + "-";
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    if (it->path().filename().string().starts_with(prefix)) fs::remove(it->path(), ec);
    if (ec) break;
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return InternalError("delete outputs of " + task_id + ": " + ec.message());
  }
  return Status::Ok();
}

Result<std::vector<StoredLease>> FsResultStore::ListLeases() {
  std::vector<StoredLease> out;
  std::error_code ec;
  for (auto task = fs::directory_iterator(options_.dir, ec);
       !ec && task != fs::directory_iterator(); task.increment(ec)) {
    const std::string task_id = task->path().filename().string();
    if (!IsValidOutputKey(task_id)) continue;
    std::set<uint64_t> leases;
    std::error_code file_ec;
    for (auto file = fs::directory_iterator(task->path(), file_ec);
         !file_ec && file != fs::directory_iterator(); file.increment(file_ec)) {
      const std::string name = file->path().filename().string();
      uint64_t fencing = 0;
      auto [end, parsed] = std::from_chars(name.data(), name.data() + name.size(), fencing);
      if (parsed != std::errc() || !name.ends_with(".out") || *end != '-') continue;
      leases.insert(fencing);
    }
    for (uint64_t fencing : leases) out.push_back(StoredLease{task_id, fencing});
  }
  if (ec) return InternalError("list outputs in " + options_.dir + ": " + ec.message());
  // Single files are few (the service packs its outputs): the set of their leases stays small.
  std::set<std::pair<std::string, uint64_t>> files;
  for (const StoredLease& lease : out) files.emplace(lease.task_id, lease.fencing);
  std::optional<StoredLease> after;
  while (true) {
    ASSIGN_OR_RETURN(std::vector<StoredLease> page, index_->Leases(after, kLeasesPerPage));
    for (StoredLease& lease : page) {
      if (files.count({lease.task_id, lease.fencing}) == 0) out.push_back(lease);
    }
    if (page.size() < static_cast<size_t>(kLeasesPerPage)) break;
    after = std::move(page.back());
  }
  return out;
}

Status FsResultStore::Delete(const std::string& task_id) {
  if (!IsValidOutputKey(task_id)) return InvalidArgumentError("not a valid task id: " + task_id);
  ASSIGN_OR_RETURN(std::vector<std::string> dead, index_->Remove(task_id));
  DropDeadPacks(dead);
  std::error_code ec;
  fs::remove_all(fs::path(options_.dir) / task_id, ec);
  if (ec) return InternalError("delete outputs of " + task_id + ": " + ec.message());
  return Status::Ok();
}

}  // namespace stipple
