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
#pragma once

#include <memory>
#include <string>

#include "results/result_store.h"

namespace stipple {

struct FsResultStoreOptions {
  std::string dir;  // created (with parents) if missing
  // false: skip the fsyncs (tests, benchmarks). A crash of the machine may then lose a record
  // that Put acknowledged; still never a partial one that Get accepts (the checksum catches it).
  bool sync = true;
};

class FsResultStore final : public ResultStore {
 public:
  // Creates the directory if needed and removes temp files left by a crash.
  static Result<std::unique_ptr<FsResultStore>> Open(const FsResultStoreOptions& options);

  Result<StoredOutput> Put(const std::string& task_id, uint64_t fencing, int index,
                           std::string_view bytes) override;
  Result<OutputBytes> Get(const std::string& task_id, uint64_t fencing, int index) override;
  Status DeleteLease(const std::string& task_id, uint64_t fencing) override;
  Status Delete(const std::string& task_id) override;
  // Each "<dir>/<task>/<fencing>-<index>.out" counts; files being written (temporary) do not.
  Result<std::vector<StoredLease>> ListLeases() override;

  // The file that holds a record (for tests that damage one on purpose).
  std::string PathOf(const std::string& task_id, uint64_t fencing, int index) const;

 private:
  explicit FsResultStore(FsResultStoreOptions options) : options_(std::move(options)) {}
  const FsResultStoreOptions options_;
};

}  // namespace stipple
