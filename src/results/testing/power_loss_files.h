// PowerLossFiles (tests only): a FileSyncer that models what a power cut leaves of a directory
// tree, for the writers that sync through the seam (FsResultStore's outputs).
//
// The model, by inode: a file's bytes are durable as they were at its last SyncFile (a file never
// synced comes back empty); a directory's entries (names → inodes, files and subdirectories) are
// durable as they were at its last SyncDirectory (a directory never synced comes back empty,
// whatever was created, renamed or unlinked in it since). The root is durable as it was when the
// model was made (or last restored). Real fsyncs are skipped: the model alone decides.
//
// Cut freezes the image: walking the durable entries from the root, each file with its inode's
// synced bytes. The process goes on, but nothing it does after reaches the image. Once the writer
// is closed, Restore makes the tree on disk what the image says and starts the model again from
// there.
//
// Files another layer models (FsResultStore's pack index, a SQLite database written through
// store/sqlite/testing/power_loss_vfs.h) are named by `other_layer`: this model leaves them out,
// and Restore keeps them as they are on disk (restore that layer first), in their directory when
// the image has it (they go with a directory the cut took). Inodes are the file system's (st_ino):
// a number reused for a new file after an unlink would be taken for the old one's bytes until it is
// synced (FsResultStore syncs every file before it renames it into place, so this does not arise
// there).
//
// Thread-safe.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/file.h"
#include "common/thread_annotations.h"

namespace stipple::testing {

class PowerLossFiles final : public FileSyncer {
 public:
  // `root` must exist. `before_sync`, if set, runs before every sync (outside the model's lock):
  // a test shares one power switch between layers by counting these (and may Cut from it).
  explicit PowerLossFiles(std::string root, std::function<void()> before_sync = nullptr,
                          std::function<bool(std::string_view file_name)> other_layer = nullptr);

  int SyncFile(int fd, const std::string& path) override;
  int SyncDirectory(int fd, const std::string& path) override;

  void Cut();
  bool cut();
  // After Cut, with the writer closed: the tree under the root becomes the image.
  Status Restore();

 private:
  struct Entry {
    ino_t inode = 0;
    bool directory = false;
  };
  using Listing = std::map<std::string, Entry>;  // name → entry
  // Takes the tree on disk as durable (the start, and after a restore).
  void AdoptTree() REQUIRES(mu_);
  Result<Listing> List(const std::string& dir);
  void Walk(const std::string& dir, ino_t inode, const std::string& relative) REQUIRES(mu_);

  const std::string root_;
  // Whether a regular file of this name is another layer's (see the file comment).
  bool OtherLayers(std::string_view name, bool directory) const;

  const std::function<void()> before_sync_;
  const std::function<bool(std::string_view)> other_layer_;
  Mutex mu_;
  ino_t root_inode_ GUARDED_BY(mu_) = 0;
  std::map<ino_t, std::string> data_ GUARDED_BY(mu_);  // synced bytes, by inode
  std::map<ino_t, Listing> listings_ GUARDED_BY(mu_);  // synced entries, by directory inode
  // After a cut: relative path → bytes (nullopt: a directory), parents before children.
  std::optional<std::map<std::string, std::optional<std::string>>> image_ GUARDED_BY(mu_);
};

}  // namespace stipple::testing
