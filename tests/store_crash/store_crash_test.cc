// Kills a process that is writing to a SqliteTaskStore at full speed (SIGKILL at a random moment)
// and checks, after reopening, that every acknowledged enqueue and completion is there and that
// no task was lost, invented or duplicated, that no lease of the dead process survived, and that
// fencing numbers handed out after the crash are greater than any handed out before it. Several
// rounds on the same database, each starting from what the previous crash left. And the same
// for the task service's batch completion with its result files (ServiceCrash).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/id.h"
#include "results/fs_result_store.h"
#include "store/sqlite/sqlite_task_store.h"

namespace stipple {
namespace {

struct Acks {
  std::set<std::string> intended, enqueued, completed;
  uint64_t max_fencing = 0;
};

// Runs the child until it has been up for `run_ms`, kills it with SIGKILL and returns every line
// it managed to write before dying.
Acks RunAndKill(const char* child, const std::vector<std::string>& args, int run_ms) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> argv{const_cast<char*>(child)};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(child, argv.data());
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buf[65536];
  // Wait for "ready", then let it run.
  while (out.find("R ready\n") == std::string::npos) {
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(run_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
    } else {
      usleep(1000);
    }
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status)) << "the child exited by itself with status " << status;
  fcntl(fds[0], F_SETFL, 0);
  while (true) {  // what it wrote before dying is still in the pipe
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);

  Acks acks;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.size() < 3) continue;
    std::string id = line.substr(2);
    if (line[0] == 'I') acks.intended.insert(id);
    if (line[0] == 'E') acks.enqueued.insert(id);
    if (line[0] == 'C') acks.completed.insert(id);
    if (line[0] == 'L') acks.max_fencing = std::max<uint64_t>(acks.max_fencing, std::stoull(id));
  }
  return acks;
}

std::map<std::string, Task> AllTasks(TaskStore& store) {
  std::map<std::string, Task> all;
  std::string cursor;
  do {
    auto page = store.List({.limit = 100, .cursor = cursor});
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    if (!page.ok()) break;
    for (Task& t : page->tasks) {
      EXPECT_TRUE(all.emplace(t.id, t).second) << "task listed twice: " << t.id;
    }
    cursor = page->next_cursor;
  } while (!cursor.empty());
  return all;
}

TEST(SqliteStoreCrash, KillNineLosesNothingAcknowledged) {
  std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / ("stipple-crash-" + NewId("tmp"));
  std::filesystem::create_directories(dir);
  std::string db = (dir / "tasks.db").string();
  std::mt19937 rng(std::random_device{}());
  std::set<std::string> intended_so_far, enqueued_so_far, completed_so_far;

  constexpr int kRounds = 5;
  for (int round = 0; round < kRounds; ++round) {
    int run_ms = std::uniform_int_distribution<int>(150, 600)(rng);
    Acks acks = RunAndKill(STORE_CRASH_CHILD, {db}, run_ms);
    ASSERT_FALSE(acks.enqueued.empty()) << "round " << round << ": the child acknowledged nothing";
    intended_so_far.insert(acks.intended.begin(), acks.intended.end());
    enqueued_so_far.insert(acks.enqueued.begin(), acks.enqueued.end());
    completed_so_far.insert(acks.completed.begin(), acks.completed.end());

    auto opened = SqliteTaskStore::Open({.path = db});
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    std::map<std::string, Task> all = AllTasks(**opened);

    for (const std::string& id : enqueued_so_far) {
      ASSERT_TRUE(all.count(id)) << "round " << round << ": acknowledged enqueue lost: " << id;
    }
    for (const std::string& id : completed_so_far) {
      ASSERT_EQ(all.at(id).state, TaskState::kSucceeded)
          << "round " << round << ": acknowledged completion lost: " << id;
    }
    for (const auto& [id, task] : all) {
      ASSERT_TRUE(intended_so_far.count(id)) << "a task nobody enqueued: " << id;
      ASSERT_NE(task.state, TaskState::kRunning) << "a lease of the dead process survived: " << id;
      if (task.state == TaskState::kSucceeded) {
        ASSERT_EQ(task.outputs.size(), 1u) << id;
      }
    }
    // A lease after the crash never reuses a fencing number of the dead process.
    auto next = (*opened)->Lease({.worker_id = "checker", .models = {"shapes-32"}});
    ASSERT_TRUE(next.ok());
    if (!next->empty()) {
      EXPECT_GT(next->front().task.fencing, acks.max_fencing);
      ASSERT_TRUE((*opened)->Release(next->front().task.id, next->front().task.fencing).ok());
    }
    std::printf(
        "round %d: killed after %d ms; %zu enqueues and %zu completions acknowledged, %zu tasks "
        "stored\n",
        round, run_ms, acks.enqueued.size(), acks.completed.size(), all.size());
  }
  std::filesystem::remove_all(dir);
}

// The service's batch completion under SIGKILL: every task the store says succeeded has its
// image, whole and right (the batch's pack was durable before the transaction that completed it),
// and every acknowledged completion is there.
TEST(ServiceCrash, KillNineNeverLeavesASucceededTaskWithoutItsImages) {
  std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / ("stipple-crash-" + NewId("tmp"));
  std::filesystem::create_directories(dir);
  const std::string db = (dir / "tasks.db").string();
  const std::string outputs = (dir / "outputs").string();
  std::mt19937 rng(std::random_device{}());
  std::set<std::string> completed_so_far;
  constexpr int kRounds = 4;
  for (int round = 0; round < kRounds; ++round) {
    const int run_ms = std::uniform_int_distribution<int>(200, 700)(rng);
    Acks acks = RunAndKill(SERVICE_CRASH_CHILD, {db, outputs}, run_ms);
    ASSERT_FALSE(acks.enqueued.empty()) << "round " << round << ": the child acknowledged nothing";
    completed_so_far.insert(acks.completed.begin(), acks.completed.end());
    auto store = SqliteTaskStore::Open({.path = db});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto results = FsResultStore::Open({.dir = outputs});
    ASSERT_TRUE(results.ok()) << results.status().ToString();
    std::map<std::string, Task> all = AllTasks(**store);
    for (const std::string& id : completed_so_far) {
      ASSERT_EQ(all.at(id).state, TaskState::kSucceeded)
          << "round " << round << ": acknowledged completion lost: " << id;
    }
    size_t succeeded = 0;
    for (const auto& [id, task] : all) {
      if (task.state != TaskState::kSucceeded) continue;
      ++succeeded;
      auto image = (*results)->Get(id, task.fencing, 0);
      ASSERT_TRUE(image.ok()) << "round " << round << ": succeeded without its image: " << id
                              << ": " << image.status().ToString();
      EXPECT_EQ(image->bytes, "png:" + id);
    }
    std::printf("round %d: killed after %d ms; %zu completions acknowledged, %zu succeeded\n",
                round, run_ms, acks.completed.size(), succeeded);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace stipple
