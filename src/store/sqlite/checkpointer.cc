#include "store/sqlite/checkpointer.h"

#include <pthread.h>

#include "common/log.h"

namespace stipple::sqlite {

Checkpointer::Checkpointer(std::unique_ptr<Connection> db, Millis interval)
    : db_(std::move(db)), interval_(interval) {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "stipple-ckpt");
    Loop();
  });
}

Checkpointer::~Checkpointer() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Checkpointer::Loop() {
  MutexLock lock(mu_);
  while (true) {
    bool stop = cv_.wait_for(lock.native(), interval_, [&]() REQUIRES(mu_) { return stopping_; });
    lock.Unlock();
    Status s = db_->Exec("PRAGMA wal_checkpoint(PASSIVE)");
    if (!s.ok()) LogWarn("task store checkpoint failed", {{"error", s.ToString()}});
    lock.Lock();
    if (stop) return;
  }
}

}  // namespace stipple::sqlite
