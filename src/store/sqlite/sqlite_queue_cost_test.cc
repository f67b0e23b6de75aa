// The SQLite store's backlog-independent costs: the queue counts and the queue-position index
// rebuilt on open, and submit, status-read, list and count calls that run no more SQLite
// virtual-machine steps with 100,000 tasks queued than with none (a work count, not a time).
#include <gtest/gtest.h>

#include <filesystem>

#include "common/id.h"
#include "store/sqlite/sqlite_task_store.h"
#include "store/testing/task_store_contract.h"

namespace stipple {
namespace {

class SqliteQueueCostTest : public ::testing::Test {
 protected:
  SqliteQueueCostTest() {
    dir_ = std::filesystem::path(::testing::TempDir()) / ("stipple-cost-" + NewId("tmp"));
    std::filesystem::create_directories(dir_);
  }
  ~SqliteQueueCostTest() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<SqliteTaskStore> Open() {
    auto s = SqliteTaskStore::Open({.path = (dir_ / "tasks.db").string(), .clock = &clock_});
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }
  std::filesystem::path dir_;
  ManualClock clock_;
};

NewTask Limited(const std::string& tenant) {
  NewTask nt = TestNewTask(tenant, TestRequest());
  nt.max_queued = 1'000'000'000;  // admission runs (and counts) but never refuses here
  nt.tenant_max_queued = 1'000'000'000;
  return nt;
}

int64_t QueuedNormal(TaskStore& store) {
  auto counts = store.Counts();
  EXPECT_TRUE(counts.ok());
  int64_t n = 0;
  for (const QueueCounts& c : *counts) n += c.queued[1];
  return n;
}

TEST_F(SqliteQueueCostTest, CountsAndPositionsAreRebuiltOnOpen) {
  std::vector<std::string> ids;
  {
    auto store = Open();
    for (int i = 0; i < 3; ++i) ids.push_back(store->Enqueue(Limited("acme"))->task.id);
    ASSERT_EQ(store->Lease({.worker_id = "w", .models = {"shapes-32"}})->size(), 1u);
    // Counts gone wrong (a database written by an older stipple has none): Open recomputes.
    ASSERT_TRUE(store
                    ->CompanionWrite(
                        [](sqlite::Connection& db) {
                          return db.Exec(
                              "UPDATE queue_totals SET n = 999; "
                              "DELETE FROM queue_counts;");
                        },
                        sqlite::Durability::kSync)
                    .ok());
  }
  auto store = Open();  // the lease of the earlier opening lapses: all three queued again
  EXPECT_EQ(QueuedNormal(*store), 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(store->Get(ids[i])->queue_position, i);
  NewTask over = Limited("acme");
  over.tenant_max_queued = 3;
  EXPECT_TRUE(store->Enqueue(over)->refused);
}

// Average virtual-machine steps of `call`, over `n` calls.
template <typename F>
double StepsPerCall(int n, F call) {
  int64_t before = sqlite::VmStepsRun();
  for (int i = 0; i < n; ++i) call();
  return static_cast<double>(sqlite::VmStepsRun() - before) / n;
}

struct Costs {
  double submit, status, list, counts;
};

Costs Measure(SqliteTaskStore& store) {
  // A task behind everything queued: its position is the whole backlog.
  std::string tail = store.Enqueue(Limited("acme"))->task.id;
  Costs c;
  c.submit = StepsPerCall(50, [&] { ASSERT_FALSE(store.Enqueue(Limited("acme"))->refused); });
  c.status = StepsPerCall(50, [&] { ASSERT_TRUE(store.Get(tail)->queue_position.has_value()); });
  ListQuery q;
  q.tenant = "acme";
  q.state = TaskState::kQueued;
  c.list = StepsPerCall(20, [&] { ASSERT_EQ(store.List(q)->tasks.size(), 20u); });
  c.counts = StepsPerCall(20, [&] { ASSERT_TRUE(store.Counts().ok()); });
  return c;
}

TEST_F(SqliteQueueCostTest, SubmitAndStatusReadCostsDoNotGrowWithTheBacklog) {
  auto store = Open();
  for (int i = 0; i < 30; ++i) ASSERT_FALSE(store->Enqueue(Limited("acme"))->refused);
  Costs empty = Measure(*store);

  constexpr int kBacklog = 100'000;
  for (int chunk = 0; chunk < kBacklog / 10'000; ++chunk) {
    std::vector<NewTask> many;
    for (int i = 0; i < 10'000; ++i)
      many.push_back(TestNewTask(i % 2 ? "acme" : "bulk", TestRequest()));
    ASSERT_TRUE(store->EnqueueManyForTesting(many).ok());
  }
  ASSERT_GE(QueuedNormal(*store), kBacklog);
  Costs full = Measure(*store);
  std::printf(
      "VM steps per call, ~100 queued → 100,000 queued: submit %.0f → %.0f, status %.0f → "
      "%.0f, list %.0f → %.0f, counts %.0f → %.0f\n",
      empty.submit, full.submit, empty.status, full.status, empty.list, full.list, empty.counts,
      full.counts);
  EXPECT_LT(full.submit, 2 * empty.submit);
  EXPECT_LT(full.status, 2 * empty.status);
  EXPECT_LT(full.list, 2 * empty.list);
  EXPECT_LT(full.counts, 2 * empty.counts);
  // The status read behind the whole backlog still has its exact position.
  std::string last = store->Enqueue(Limited("acme"))->task.id;
  EXPECT_EQ(store->Get(last)->queue_position, QueuedNormal(*store) - 1);
}

}  // namespace
}  // namespace stipple
