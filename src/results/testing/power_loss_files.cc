#include "results/testing/power_loss_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace stipple::testing {

namespace fs = std::filesystem;

namespace {

// Creates or replaces the file at `path` with `bytes` (Restore).
Status WriteFile(const std::string& path, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return UnavailableError("restore: create " + path + ": " + std::strerror(errno));
  bool ok = ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
  ::close(fd);
  if (!ok) return UnavailableError("restore: write " + path);
  return Status::Ok();
}

}  // namespace

PowerLossFiles::PowerLossFiles(std::string root, std::function<void()> before_sync,
                               std::function<bool(std::string_view)> other_layer)
    : root_(std::move(root)),
      before_sync_(std::move(before_sync)),
      other_layer_(std::move(other_layer)) {
  MutexLock lock(mu_);
  AdoptTree();
}

bool PowerLossFiles::OtherLayers(std::string_view name, bool directory) const {
  return !directory && other_layer_ && other_layer_(name);
}

Result<PowerLossFiles::Listing> PowerLossFiles::List(const std::string& dir) {
  Listing listing;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return UnavailableError("opendir " + dir + ": " + std::strerror(errno));
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st {};
    if (::lstat((dir + "/" + name).c_str(), &st) != 0) continue;  // gone meanwhile
    if (OtherLayers(name, S_ISDIR(st.st_mode))) continue;
    listing[name] = Entry{st.st_ino, S_ISDIR(st.st_mode)};
  }
  ::closedir(d);
  return listing;
}

void PowerLossFiles::AdoptTree() {
  data_.clear();
  listings_.clear();
  struct stat st {};
  ::stat(root_.c_str(), &st);
  root_inode_ = st.st_ino;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root_, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (::lstat(it->path().c_str(), &st) != 0 || S_ISDIR(st.st_mode)) continue;
    if (OtherLayers(it->path().filename().string(), false)) continue;
    Result<std::string> bytes = ReadTextFile(it->path().string());
    if (bytes.ok()) data_[st.st_ino] = std::move(*bytes);
  }
  for (auto it = fs::recursive_directory_iterator(root_, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_directory(ec)) continue;
    if (::stat(it->path().c_str(), &st) != 0) continue;
    if (auto listing = List(it->path().string()); listing.ok()) listings_[st.st_ino] = *listing;
  }
  if (auto listing = List(root_); listing.ok()) listings_[root_inode_] = *listing;
}

int PowerLossFiles::SyncFile(int fd, const std::string& path) {
  if (before_sync_) before_sync_();
  struct stat st {};
  if (::fstat(fd, &st) != 0) return -1;
  Result<std::string> bytes = ReadTextFile(path);  // `fd` may be open for writing only
  if (!bytes.ok()) {
    errno = EIO;
    return -1;
  }
  MutexLock lock(mu_);
  if (!image_) data_[st.st_ino] = std::move(*bytes);
  return 0;
}

int PowerLossFiles::SyncDirectory(int fd, const std::string& path) {
  if (before_sync_) before_sync_();
  struct stat st {};
  if (::fstat(fd, &st) != 0) return -1;
  Result<Listing> listing = List(path);
  if (!listing.ok()) {
    errno = EIO;
    return -1;
  }
  MutexLock lock(mu_);
  if (!image_) listings_[st.st_ino] = std::move(*listing);
  return 0;
}

void PowerLossFiles::Walk(const std::string& dir, ino_t inode, const std::string& relative) {
  auto listing = listings_.find(inode);
  if (listing == listings_.end()) return;  // never synced: empty
  for (const auto& [name, entry] : listing->second) {
    const std::string path = relative.empty() ? name : relative + "/" + name;
    if (entry.directory) {
      (*image_)[path] = std::nullopt;
      Walk(dir + "/" + name, entry.inode, path);
    } else {
      auto bytes = data_.find(entry.inode);
      (*image_)[path] = bytes == data_.end() ? std::string() : bytes->second;
    }
  }
}

void PowerLossFiles::Cut() {
  MutexLock lock(mu_);
  if (image_) return;
  image_.emplace();
  Walk(root_, root_inode_, "");
}

bool PowerLossFiles::cut() {
  MutexLock lock(mu_);
  return image_.has_value();
}

Status PowerLossFiles::Restore() {
  MutexLock lock(mu_);
  if (!image_) return FailedPreconditionError("power-loss files " + root_ + ": no cut to restore");
  std::error_code ec;
  std::map<std::string, std::string> kept;  // another layer's files: relative path → bytes
  for (auto it = fs::recursive_directory_iterator(root_, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) || !OtherLayers(it->path().filename().string(), false)) continue;
    Result<std::string> bytes = ReadTextFile(it->path().string());
    if (!bytes.ok()) return bytes.status();
    kept[fs::relative(it->path(), root_).string()] = std::move(*bytes);
  }
  for (auto it = fs::directory_iterator(root_, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    fs::remove_all(it->path(), ec);
    if (ec) break;
  }
  if (ec) return UnavailableError("restore " + root_ + ": " + ec.message());
  for (const auto& [relative, bytes] : *image_) {  // a map: parents sort before children
    const std::string path = root_ + "/" + relative;
    if (!bytes) {
      if (::mkdir(path.c_str(), 0755) != 0) {
        return UnavailableError("restore: mkdir " + path + ": " + std::strerror(errno));
      }
      continue;
    }
    RETURN_IF_ERROR(WriteFile(path, *bytes));
  }
  for (const auto& [relative, bytes] : kept) {
    const fs::path path = fs::path(root_) / relative;
    if (!fs::is_directory(path.parent_path(), ec)) continue;  // the cut took its directory
    RETURN_IF_ERROR(WriteFile(path.string(), bytes));
  }
  image_.reset();
  AdoptTree();
  return Status::Ok();
}

}  // namespace stipple::testing
