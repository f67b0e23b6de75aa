#include "store/sqlite/queue_index.h"

namespace stipple::sqlite {

void QueueIndex::Apply(std::span<const QueueChange> changes) {
  if (changes.empty()) return;
  WriterLock lock(mu_);
  for (const QueueChange& c : changes) {
    Tree& tree = queues_[c.model];
    Key key{c.priority, c.id};
    if (c.queued) {
      if (tree.insert(std::move(key)).second) ++size_;
    } else {
      if (tree.erase(key)) --size_;
      if (tree.empty()) queues_.erase(c.model);
    }
  }
}

void QueueIndex::Clear() {
  WriterLock lock(mu_);
  queues_.clear();
  size_ = 0;
}

int64_t QueueIndex::Ahead(const std::string& model, int priority, const std::string& id) const {
  ReaderLock lock(mu_);
  auto it = queues_.find(model);
  if (it == queues_.end()) return 0;
  return static_cast<int64_t>(it->second.order_of_key(Key{priority, id}));
}

int64_t QueueIndex::size() const {
  ReaderLock lock(mu_);
  return size_;
}

}  // namespace stipple::sqlite
