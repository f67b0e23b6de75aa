#include "results/fs_result_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <set>
#include <system_error>

#include "common/digest.h"
#include "common/hex.h"
#include "common/id.h"

namespace stipple {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'S', 'T', 'P', 'O', 'U', 'T', '1', '\n'};
constexpr size_t kDigestBytes = 32;
constexpr size_t kHeaderBytes = sizeof(kMagic) + kDigestBytes + 8;
constexpr std::string_view kTempPrefix = ".tmp-";

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

Status SyncDir(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoError("open", dir, errno);
  if (::fsync(fd.get()) != 0) return ErrnoError("fsync", dir, errno);
  return Status::Ok();
}

Status CheckKey(const std::string& task_id, int index) {
  if (!IsValidOutputKey(task_id)) return InvalidArgumentError("not a valid task id: " + task_id);
  if (index < 0) return InvalidArgumentError("output index must not be negative");
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<FsResultStore>> FsResultStore::Open(const FsResultStoreOptions& options) {
  if (options.dir.empty()) return InvalidArgumentError("result store: no directory given");
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec) return InternalError("create " + options.dir + ": " + ec.message());
  // Temp files are what a crash in the middle of a Put leaves; no reader ever opens them.
  for (auto it = fs::recursive_directory_iterator(options.dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec) && it->path().filename().string().starts_with(kTempPrefix)) {
      fs::remove(it->path(), ec);
    }
  }
  if (ec) return InternalError("scan " + options.dir + ": " + ec.message());
  return std::unique_ptr<FsResultStore>(new FsResultStore(options));
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
  if (written.ok() && options_.sync && ::fsync(fd.get()) != 0) {
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
  if (options_.sync) {
    RETURN_IF_ERROR(SyncDir(dir));
    if (new_dir) RETURN_IF_ERROR(SyncDir(options_.dir));
  }
  return record;
}

Result<OutputBytes> FsResultStore::Get(const std::string& task_id, uint64_t fencing, int index) {
  RETURN_IF_ERROR(CheckKey(task_id, index));
  const std::string path = PathOf(task_id, fencing, index);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT)
      return NotFoundError("no output " + std::to_string(index) + " of " + task_id);
    return ErrnoError("open", path, errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoError("stat", path, errno);
  std::string data(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < data.size()) {
    ssize_t n = ::read(fd.get(), data.data() + got, data.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read", path, errno);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  data.resize(got);
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
  return out;
}

Status FsResultStore::Delete(const std::string& task_id) {
  if (!IsValidOutputKey(task_id)) return InvalidArgumentError("not a valid task id: " + task_id);
  std::error_code ec;
  fs::remove_all(fs::path(options_.dir) / task_id, ec);
  if (ec) return InternalError("delete outputs of " + task_id + ": " + ec.message());
  return Status::Ok();
}

}  // namespace stipple
