// Checkpointer: copies the WAL back into the database file from a thread of its own, so that the
// writer thread never stalls on a checkpoint (and its fsync of the database file) in the middle
// of a batch. The writer connection runs with wal_autocheckpoint=0; this thread runs a PASSIVE
// checkpoint, which never blocks the writer or readers, every `interval`.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "common/clock.h"
#include "common/thread_annotations.h"
#include "store/sqlite/sqlite_db.h"

namespace stipple::sqlite {

class Checkpointer {
 public:
  // Takes its own connection to the database.
  Checkpointer(std::unique_ptr<Connection> db, Millis interval);
  ~Checkpointer();  // stops the thread after a last checkpoint
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

 private:
  void Loop();

  std::unique_ptr<Connection> db_;
  const Millis interval_;
  Mutex mu_;
  std::condition_variable cv_;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace stipple::sqlite
