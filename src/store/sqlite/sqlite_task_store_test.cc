#include "store/sqlite/sqlite_task_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "common/id.h"
#include "store/testing/task_store_contract.h"
#include "store/testing/transition_table.h"

namespace stipple {
namespace {

// A fresh directory under the test's temp dir, removed afterwards.
class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::path(::testing::TempDir()) / ("stipple-store-" + NewId("tmp"));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

class SqliteHarness : public TaskStoreHarness {
 public:
  SqliteHarness() {
    auto s = SqliteTaskStore::Open({.path = dir_.File("tasks.db"), .clock = &clock});
    if (!s.ok()) ADD_FAILURE() << s.status().ToString();
    store_ = std::move(*s);
  }
  TaskStore& store() override { return *store_; }

 private:
  TempDir dir_;
  std::unique_ptr<SqliteTaskStore> store_;
};

std::unique_ptr<TaskStoreHarness> MakeSqliteHarness() { return std::make_unique<SqliteHarness>(); }

INSTANTIATE_TASK_STORE_CONTRACT(Sqlite, &MakeSqliteHarness);
INSTANTIATE_TRANSITION_TABLE(Sqlite, &MakeSqliteHarness);

// ---- what only the SQLite store promises ----

class SqliteTaskStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<SqliteTaskStore> Open(bool group_commit = true) {
    auto s = SqliteTaskStore::Open(
        {.path = dir_.File("tasks.db"), .clock = &clock_, .group_commit = group_commit});
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }
  TempDir dir_;
  ManualClock clock_;
};

TEST_F(SqliteTaskStoreTest, EnqueuedTaskSurvivesReopening) {
  std::string id;
  {
    auto store = Open();
    id = store->Enqueue(TestNewTask("acme", TestRequest()))->task.id;
  }
  auto store = Open();
  auto got = store->Get(id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, TaskState::kQueued);
  EXPECT_EQ(got->request, TestRequest());
}

TEST_F(SqliteTaskStoreTest, ReopeningLapsesTheLeasesOfTheEarlierProcessAtOnce) {
  std::string id;
  {
    auto store = Open();
    id = store->Enqueue(TestNewTask("acme", TestRequest()))->task.id;
    ASSERT_EQ(store->Lease({.worker_id = "w", .models = {"shapes-32"}})->size(), 1u);
  }
  auto store = Open();  // same clock time: the lease has not lapsed by the clock
  auto got = store->Get(id);
  EXPECT_EQ(got->state, TaskState::kQueued);
  EXPECT_EQ(got->attempts, 1);
}

TEST_F(SqliteTaskStoreTest, FencingNumbersAreNeverReusedAfterReopening) {
  uint64_t before;
  {
    auto store = Open();
    ASSERT_TRUE(store->Enqueue(TestNewTask("acme", TestRequest())).ok());
    before = store->Lease({.worker_id = "w", .models = {"shapes-32"}})->front().task.fencing;
  }
  auto store = Open();
  uint64_t after = store->Lease({.worker_id = "w", .models = {"shapes-32"}})->front().task.fencing;
  EXPECT_GT(after, before);
}

TEST_F(SqliteTaskStoreTest, SecondOpenOfTheSameDatabaseIsRefused) {
  auto first = Open();
  auto second = SqliteTaskStore::Open({.path = dir_.File("tasks.db"), .clock = &clock_});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("in use"), std::string::npos);
}

TEST_F(SqliteTaskStoreTest, ConcurrentTransitionsShareCommits) {
  auto store = Open();
  std::vector<std::thread> producers;
  for (int p = 0; p < 16; ++p) {
    producers.emplace_back([&] {
      for (int i = 0; i < 20; ++i)
        ASSERT_TRUE(store->Enqueue(TestNewTask("acme", TestRequest())).ok());
    });
  }
  for (auto& t : producers) t.join();
  auto stats = store->commit_stats();
  EXPECT_GE(stats.operations, 320);
  EXPECT_LT(stats.commits, stats.operations);
}

TEST_F(SqliteTaskStoreTest, WithoutGroupCommitEveryTransitionIsItsOwnCommit) {
  auto store = Open(/*group_commit=*/false);
  int64_t before = store->commit_stats().commits;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store->Enqueue(TestNewTask("acme", TestRequest())).ok());
  EXPECT_EQ(store->commit_stats().commits - before, 5);
}

TEST_F(SqliteTaskStoreTest, FailedOperationInABatchLeavesTheOthersCommitted) {
  auto store = Open();
  NewTask dup = TestNewTask("acme", TestRequest());
  ASSERT_TRUE(store->Enqueue(dup).ok());
  std::vector<std::thread> threads;
  std::atomic<int> ok{0}, refused{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      auto r = store->Enqueue(i % 2 ? dup : TestNewTask("acme", TestRequest()));
      (r.ok() ? ok : refused)++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 4);
  EXPECT_EQ(refused, 4);
  EXPECT_EQ(store->List({.tenant = "acme", .limit = 100})->tasks.size(), 5u);
}

}  // namespace
}  // namespace stipple
