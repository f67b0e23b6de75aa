// QueueIndex: the queued tasks of every model in lease order (priority, then id), in memory, with
// each task's rank in O(log n) — the exact queue_position of a task without counting rows.
//
// The SQLite store keeps it equal to the committed `tasks` rows in state queued: built from them
// on open, then changed by the store's writer after each commit (QueueChange records made inside
// the transaction, applied once it has committed, dropped if it rolled back). Thread-safe: one
// writer applies changes while any number of readers rank.
#pragma once

#include <cstdint>
#include <ext/pb_ds/assoc_container.hpp>
#include <ext/pb_ds/tree_policy.hpp>
#include <functional>
#include <shared_mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>

#include "common/thread_annotations.h"

namespace stipple::sqlite {

// A task entering (queued = true) or leaving the queue of its model.
struct QueueChange {
  std::string model;
  int priority = 1;
  std::string id;
  bool queued = true;
};

class QueueIndex {
 public:
  // Applies changes in order; entering twice or leaving a queue one is not in is a no-op.
  void Apply(std::span<const QueueChange> changes);
  void Clear();

  // The queued tasks of `model` ahead of a task with this priority and id: every one of a higher
  // priority (a lower number) and those of the same priority with a smaller id. The task itself
  // need not be in the index.
  int64_t Ahead(const std::string& model, int priority, const std::string& id) const;
  // Queued tasks of every model.
  int64_t size() const;

 private:
  using Key = std::pair<int, std::string>;  // (priority, id): the lease order
  using Tree = __gnu_pbds::tree<Key, __gnu_pbds::null_type, std::less<Key>, __gnu_pbds::rb_tree_tag,
                                __gnu_pbds::tree_order_statistics_node_update>;
  mutable SharedMutex mu_;
  std::unordered_map<std::string, Tree> queues_ GUARDED_BY(mu_);  // by model
  int64_t size_ GUARDED_BY(mu_) = 0;
};

}  // namespace stipple::sqlite
