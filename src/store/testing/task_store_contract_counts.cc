// The TaskStore contract, continued: the queue counts every transition keeps, admission (the
// global bound and the tenant quota, atomic with the enqueue) and exact queue positions.
#include <atomic>
#include <thread>
#include <vector>

#include "store/testing/task_store_contract.h"

namespace stipple {
namespace {

// What Counts says about one model: queued by priority, then running.
struct Figures {
  int64_t high = 0, normal = 0, low = 0, running = 0;
  bool operator==(const Figures&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Figures& f) {
  return os << "{queued " << f.high << "/" << f.normal << "/" << f.low << ", running " << f.running
            << "}";
}

Figures FiguresOf(TaskStore& store, const std::string& model = "shapes-32") {
  auto counts = store.Counts();
  EXPECT_TRUE(counts.ok()) << counts.status().ToString();
  Figures f;
  if (!counts.ok()) return f;
  for (const QueueCounts& c : *counts) {
    if (c.model != model) continue;
    f = {c.queued[0], c.queued[1], c.queued[2], c.running};
  }
  return f;
}

NewTask Limited(const std::string& tenant, int64_t max_queued, int64_t tenant_max_queued,
                Priority priority = Priority::kNormal) {
  NewTask nt = TestNewTask(tenant, TestRequest("shapes-32", priority));
  nt.max_queued = max_queued;
  nt.tenant_max_queued = tenant_max_queued;
  return nt;
}

TEST_P(TaskStoreContract, CountsFollowEveryTransition) {
  Enqueue("acme", "shapes-32", Priority::kHigh);
  Task a = Enqueue();
  Task b = Enqueue();
  Enqueue("acme", "shapes-32", Priority::kLow, 60);
  EXPECT_EQ(FiguresOf(store()), (Figures{1, 2, 1, 0}));

  Task leased = LeaseOne();  // the high one
  EXPECT_EQ(FiguresOf(store()), (Figures{0, 2, 1, 1}));
  ASSERT_TRUE(store().Complete(CompletionFor(leased, clock().Now() + Millis(60'000))).ok());
  EXPECT_EQ(FiguresOf(store()), (Figures{0, 2, 1, 0}));

  leased = LeaseOne();  // a
  ASSERT_EQ(leased.id, a.id);
  ASSERT_TRUE(store().Fail(FailureFor(leased, FailureKind::kTransient)).ok());  // back
  EXPECT_EQ(FiguresOf(store()), (Figures{0, 2, 1, 0}));
  leased = LeaseOne();
  ASSERT_TRUE(store().Fail(FailureFor(leased, FailureKind::kPermanent)).ok());
  EXPECT_EQ(FiguresOf(store()), (Figures{0, 1, 1, 0}));

  leased = LeaseOne();  // b
  ASSERT_TRUE(store().Release(leased.id, leased.fencing).ok());
  EXPECT_EQ(FiguresOf(store()), (Figures{0, 1, 1, 0}));
  leased = LeaseOne("shapes-32", Millis(1000));
  EXPECT_EQ(FiguresOf(store()), (Figures{0, 0, 1, 1}));
  clock().Advance(Millis(1001));  // the lease lapses: back to the queue
  ASSERT_EQ(store().Reap()->requeued.size(), 1u);
  EXPECT_EQ(FiguresOf(store()), (Figures{0, 1, 1, 0}));

  ASSERT_TRUE(store().Cancel(b.id).ok());
  EXPECT_EQ(FiguresOf(store()), (Figures{0, 0, 1, 0}));
  clock().Advance(Millis(60'000));  // the low one's ttl passes
  ASSERT_EQ(store().Reap()->expired.size(), 1u);
  EXPECT_EQ(FiguresOf(store()), (Figures{0, 0, 0, 0}));
}

TEST_P(TaskStoreContract, AdmissionRefusesAtTheQueueBound) {
  ASSERT_FALSE(store().Enqueue(Limited("acme", 2, 0))->refused);
  ASSERT_FALSE(store().Enqueue(Limited("other", 2, 0))->refused);
  auto refused = store().Enqueue(Limited("acme", 2, 0));
  ASSERT_TRUE(refused.ok()) << refused.status().ToString();
  ASSERT_TRUE(refused->refused);
  EXPECT_FALSE(refused->refused->tenant_quota);
  EXPECT_EQ(refused->refused->queued, 2);
  EXPECT_EQ(FiguresOf(store()).normal, 2);  // nothing was written
  LeaseOne();                               // one fewer queued: room again
  EXPECT_FALSE(store().Enqueue(Limited("acme", 2, 0))->refused);
}

TEST_P(TaskStoreContract, TenantQuotaCountsOnlyThatTenantsQueuedTasks) {
  Enqueue("other");
  ASSERT_FALSE(store().Enqueue(Limited("acme", 0, 2))->refused);
  ASSERT_FALSE(store().Enqueue(Limited("acme", 0, 2))->refused);
  auto refused = store().Enqueue(Limited("acme", 0, 2));
  ASSERT_TRUE(refused.ok() && refused->refused);
  EXPECT_TRUE(refused->refused->tenant_quota);
  EXPECT_EQ(refused->refused->queued, 2);
  // acme's oldest queued task has the other tenant's task ahead of it.
  EXPECT_EQ(refused->refused->oldest_position, 1);
  EXPECT_FALSE(store().Enqueue(Limited("other", 0, 2))->refused);
  // A running task is not queued: acme has room again.
  Task first = LeaseOne();
  ASSERT_EQ(first.tenant, "other");
  LeaseOne();  // acme's oldest
  EXPECT_FALSE(store().Enqueue(Limited("acme", 0, 2))->refused);
}

TEST_P(TaskStoreContract, IdempotentRepeatOfAnAdmittedTaskIsNeverRefused) {
  NewTask nt = Limited("acme", 0, 1);
  nt.idempotency_key = "k1";
  auto first = store().Enqueue(nt);
  ASSERT_TRUE(first.ok() && !first->refused);
  auto again = store().Enqueue(nt);  // the tenant is at its quota now
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->refused);
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->task.id, first->task.id);
}

TEST_P(TaskStoreContract, AdmissionIsExactUnderConcurrentEnqueues) {
  std::atomic<int> admitted{0}, refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 8; ++j) {
        auto r = store().Enqueue(Limited("acme", 0, 10));
        if (!r.ok()) continue;
        (r->refused ? refused : admitted)++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 10);
  EXPECT_EQ(refused.load(), 54);
  EXPECT_EQ(FiguresOf(store()).normal, 10);
}

TEST_P(TaskStoreContract, QueuePositionIsExactAcrossPrioritiesAndRequeues) {
  Task n1 = Enqueue();
  Task n2 = Enqueue();
  auto high = store().Enqueue(TestNewTask("acme", TestRequest("shapes-32", Priority::kHigh)));
  ASSERT_TRUE(high.ok());
  EXPECT_EQ(high->task.queue_position, 0);  // the 202 of a submit carries it
  Task low = Enqueue("acme", "shapes-32", Priority::kLow);
  Enqueue("acme", "other-model");
  EXPECT_EQ(store().Get(n1.id)->queue_position, 1);
  EXPECT_EQ(store().Get(n2.id)->queue_position, 2);
  EXPECT_EQ(store().Get(low.id)->queue_position, 3);

  Task leased = LeaseOne();  // high
  EXPECT_EQ(store().Get(n2.id)->queue_position, 1);
  EXPECT_FALSE(store().Get(leased.id)->queue_position);
  leased = LeaseOne();  // n1, back to the queue: ahead of n2 again (FIFO by id)
  EXPECT_EQ(store().Get(n2.id)->queue_position, 0);
  ASSERT_TRUE(store().Release(leased.id, leased.fencing).ok());
  EXPECT_EQ(store().Get(n1.id)->queue_position, 0);
  EXPECT_EQ(store().Get(n2.id)->queue_position, 1);
  ASSERT_TRUE(store().Cancel(n1.id).ok());
  EXPECT_EQ(store().Get(n2.id)->queue_position, 0);
  EXPECT_EQ(store().Get(low.id)->queue_position, 1);
  ListQuery q;
  q.state = TaskState::kQueued;
  auto page = store().List(q);
  ASSERT_TRUE(page.ok());
  for (const Task& t : page->tasks) {
    EXPECT_EQ(t.queue_position, store().Get(t.id)->queue_position) << t.id;
  }
}

}  // namespace
}  // namespace stipple
