#include "common/file.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace stipple {

Result<std::string> ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return NotFoundError(path + ": no such file");
    return UnavailableError(path + ": " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return UnavailableError(path + ": read failed");
  return text.str();
}

namespace {

class Fsync final : public FileSyncer {
 public:
  int SyncFile(int fd, const std::string&) override { return ::fsync(fd); }
  int SyncDirectory(int fd, const std::string&) override { return ::fsync(fd); }
};

}  // namespace

FileSyncer& SystemFileSyncer() {
  static Fsync syncer;
  return syncer;
}

}  // namespace stipple
