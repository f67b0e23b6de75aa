// Worker processes against a gateway: the test-double worker binary (RunWorkerProcess over a
// test-double engine) run as real child processes, killed, drained and crashed on purpose.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <future>

#include "gateway_stack.h"
#include "worker/worker_supervisor.h"

namespace stipple::testing {
namespace {

// One test-double worker process.
class WorkerProcess {
 public:
  WorkerProcess(const GatewayStack& gateway, const std::string& id,
                std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        TEST_DOUBLE_WORKER, "--gateway", gateway.url(), "--token", kWorkerToken, "--worker-id", id};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(TEST_DOUBLE_WORKER, argv.data());
      _exit(127);
    }
  }
  ~WorkerProcess() {
    if (pid_ > 0) Stop(SIGKILL);
  }
  // Sends `signo` and returns the exit status (128 + signal when killed), or -1 after 60 s.
  int Stop(int signo) {
    kill(pid_, signo);
    for (int i = 0; i < 6000; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
};

bool RunningOn(const Task& t, const std::string& worker) {
  return t.state == TaskState::kRunning && t.worker_id == worker && t.progress &&
         t.progress->step >= 1;
}

TEST(WorkerProcess, AKilledWorkersTaskIsRequeuedAndCompletedOnceByAnother) {
  GatewayStack gateway("wproc-kill");
  WorkerProcess a(gateway, "wkr_a", {"--step-ms", "200", "--lease-ms", "1500"});
  const std::string id = gateway.Submit("a doomed circle", /*steps=*/20);
  ASSERT_TRUE(gateway.WaitTask(id, [](const Task& t) { return RunningOn(t, "wkr_a"); }));
  WorkerProcess b(gateway, "wkr_b", {"--step-ms", "10", "--lease-ms", "1500"});
  EXPECT_EQ(a.Stop(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(gateway.WaitState(id, TaskState::kSucceeded));
  Task task = gateway.Get(id);
  EXPECT_EQ(task.attempts, 2) << "the dead worker's attempt, then b's";
  EXPECT_EQ(task.outputs.size(), 1u);
}

TEST(WorkerProcess, SigtermFinishesTheRunningTaskTakesNoNewOneAndExitsZero) {
  GatewayStack gateway("wproc-drain");
  WorkerProcess w(gateway, "wkr_d", {"--step-ms", "100"});
  const std::string id = gateway.Submit("a finished circle", /*steps=*/10);
  ASSERT_TRUE(gateway.WaitTask(id, [](const Task& t) { return RunningOn(t, "wkr_d"); }));
  std::promise<int> exit_code;
  std::thread stopper([&] { exit_code.set_value(w.Stop(SIGTERM)); });
  const std::string later = gateway.Submit("a circle after the drain began");
  stopper.join();
  EXPECT_EQ(exit_code.get_future().get(), 0);
  Task task = gateway.Get(id);
  EXPECT_EQ(task.state, TaskState::kSucceeded);
  EXPECT_EQ(task.attempts, 1);
  EXPECT_EQ(gateway.Get(later).state, TaskState::kQueued) << "a draining worker takes nothing";
}

TEST(WorkerProcess, SigtermWithAShortGraceReleasesTheTaskToAnotherWorker) {
  GatewayStack gateway("wproc-grace");
  WorkerProcess a(gateway, "wkr_g", {"--step-ms", "200", "--drain-grace-ms", "100"});
  const std::string id = gateway.Submit("a handed-over circle", /*steps=*/20);
  ASSERT_TRUE(gateway.WaitTask(id, [](const Task& t) { return RunningOn(t, "wkr_g"); }));
  EXPECT_EQ(a.Stop(SIGTERM), 0);
  EXPECT_EQ(gateway.Get(id).state, TaskState::kQueued) << "released, not left to lapse";
  WorkerProcess b(gateway, "wkr_h", {"--step-ms", "5"});
  ASSERT_TRUE(gateway.WaitState(id, TaskState::kSucceeded));
}

TEST(WorkerProcess, APoisonTaskFailsAfterMaxAttemptsWhileTheSupervisorKeepsWorkersServing) {
  GatewayStack gateway("wproc-poison");
  WorkerSupervisorOptions options;
  options.command = {TEST_DOUBLE_WORKER, "--gateway", gateway.url(), "--lease-ms", "1000"};
  options.env = {{"STIPPLE_TOKEN", kWorkerToken}};
  options.processes = 2;
  options.restart_min = Millis(100);
  options.restart_max = Millis(400);
  options.stop_timeout = Millis(10'000);
  WorkerSupervisor supervisor(options);
  ASSERT_TRUE(supervisor.Start().ok());
  const std::string poison = gateway.Submit("poison", 2, /*max_attempts=*/2);
  std::vector<std::string> good;
  for (int i = 0; i < 4; ++i) good.push_back(gateway.Submit("a good circle " + std::to_string(i)));
  ASSERT_TRUE(gateway.WaitState(poison, TaskState::kFailed, std::chrono::seconds(60)));
  Task failed = gateway.Get(poison);
  EXPECT_EQ(failed.attempts, 2);
  ASSERT_TRUE(failed.error.has_value());
  EXPECT_EQ(failed.error->code, "worker_lost");
  for (const std::string& id : good)
    EXPECT_TRUE(gateway.WaitState(id, TaskState::kSucceeded)) << id;
  EXPECT_GE(supervisor.restarts(), 2) << "each crash cost one process, restarted";
  const std::string after = gateway.Submit("a circle after the poison");
  EXPECT_TRUE(gateway.WaitState(after, TaskState::kSucceeded));
  supervisor.Stop();
}

}  // namespace
}  // namespace stipple::testing
