// Reading a whole file as text, with the errors every reader of config files reports the same way;
// the seam through which writers make files durable.
#pragma once

#include <string>

#include "common/status.h"

namespace stipple {

// The file's bytes. kNotFound "PATH: no such file" when it does not exist; kUnavailable naming
// the path and the system's reason when it cannot be read.
Result<std::string> ReadTextFile(const std::string& path);

// How a writer makes what it wrote durable: fsync(2) of a file it wrote, or of a directory whose
// entries it changed (a create, a rename, an unlink). Writers that promise durability call
// these instead of fsync(2), so that a test can stand a model of the disk's cache behind them
// (results/testing/power_loss_files.h). Thread-safe.
class FileSyncer {
 public:
  virtual ~FileSyncer() = default;
  // `fd` is open on `path` (a directory for SyncDirectory). 0, or -1 with errno set, as fsync(2).
  virtual int SyncFile(int fd, const std::string& path) = 0;
  virtual int SyncDirectory(int fd, const std::string& path) = 0;
};

// fsync(2) for both.
FileSyncer& SystemFileSyncer();

}  // namespace stipple
