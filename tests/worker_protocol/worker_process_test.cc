// Worker processes against a gateway: the test-double worker binary (RunWorkerProcess over a
// test-double engine) run as real child processes, killed, drained and crashed on purpose.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

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

// What /proc says of a process's descriptors: the target of each link ("socket:[123]", a path).
std::vector<std::string> DescriptorTargets(pid_t pid) {
  std::vector<std::string> targets;
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    std::string target = std::filesystem::read_symlink(entry.path(), ec).string();
    if (!ec) targets.push_back(target);
  }
  return targets;
}

// Gone, or a zombie nobody has reaped yet.
bool ProcessGone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  size_t paren = text.rfind(')');
  return text.empty() || paren == std::string::npos || text.substr(paren + 2, 1) == "Z";
}

bool CanBind(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));  // as the server does
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool bound =
      ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 && ::listen(fd, 1) == 0;
  ::close(fd);
  return bound;
}

// `stipple serve --worker-processes 2`, then kill -9 of serve: a child process runs a gateway
// (HTTP server and SQLite store) and a WorkerSupervisor with two worker processes, and is
// killed. The workers must never have held the gateway's descriptors, must end at once, and the
// port must be free for a restart.
TEST(WorkerProcess, KillingTheSupervisorFreesItsPortAndEndsItsWorkers) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  const pid_t serve = ::fork();
  ASSERT_GE(serve, 0);
  if (serve == 0) {
    ::close(pipe_fds[0]);
    GatewayStack gateway("wproc-orphan");
    WorkerSupervisorOptions options;
    options.command = {TEST_DOUBLE_WORKER, "--gateway", gateway.url()};
    options.env = {{"STIPPLE_TOKEN", kWorkerToken}};
    options.processes = 2;
    WorkerSupervisor supervisor(options);
    if (!supervisor.Start().ok()) _exit(3);
    // Both workers up and asking for work, as a serving deployment is.
    const bool online = Eventually(
        [&] {
          Result<QueueSnapshot> queue = gateway.service().Queue();
          return queue.ok() && queue->workers_online == 2;
        },
        std::chrono::seconds(30));
    if (!online) _exit(4);
    std::ostringstream report;
    report << gateway.port();
    for (pid_t pid : supervisor.pids()) report << " " << pid;
    report << "\n";
    const std::string text = report.str();
    if (::write(pipe_fds[1], text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      _exit(2);
    }
    ::pause();
    _exit(0);
  }
  ::close(pipe_fds[1]);
  std::string text;
  char buf[256];
  for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof(buf))) > 0;) {
    text.append(buf, static_cast<size_t>(n));
    if (text.find('\n') != std::string::npos) break;
  }
  ::close(pipe_fds[0]);
  std::istringstream fields(text);
  int port = 0;
  fields >> port;
  std::vector<pid_t> workers;
  for (pid_t pid; fields >> pid;) workers.push_back(pid);
  ASSERT_GT(port, 0);
  ASSERT_EQ(workers.size(), 2u);

  // The gateway's own descriptors: its sockets (the listening one among them) and its database.
  std::vector<std::string> gateway_fds = DescriptorTargets(serve);
  for (pid_t worker : workers) {
    // Running the worker binary (exec done), and connected to the gateway.
    ASSERT_TRUE(Eventually(
        [&] {
          std::error_code ec;
          return std::filesystem::read_symlink("/proc/" + std::to_string(worker) + "/exe", ec)
                     .filename() == std::filesystem::path(TEST_DOUBLE_WORKER).filename();
        },
        std::chrono::seconds(10)));
    for (const std::string& target : DescriptorTargets(worker)) {
      SCOPED_TRACE("worker " + std::to_string(worker) + " holds " + target);
      EXPECT_EQ(target.find("tasks.db"), std::string::npos);
      if (target.rfind("socket:", 0) == 0) {
        EXPECT_EQ(std::count(gateway_fds.begin(), gateway_fds.end(), target), 0)
            << "a socket of the gateway";
      }
    }
  }

  ::kill(serve, SIGKILL);
  ::waitpid(serve, nullptr, 0);
  EXPECT_TRUE(
      Eventually([&] { return CanBind(static_cast<uint16_t>(port)); }, std::chrono::seconds(5)))
      << "the port is free for a restart";
  for (pid_t worker : workers) {
    EXPECT_TRUE(Eventually([&] { return ProcessGone(worker); }, std::chrono::seconds(5)))
        << "worker " << worker << " outlived its supervisor";
    if (!ProcessGone(worker)) ::kill(worker, SIGKILL);
  }
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::filesystem::temp_directory_path(), ec)) {
    if (entry.path().filename().string().rfind("wproc-orphan-" + std::to_string(serve) + "-", 0) ==
        0) {
      std::filesystem::remove_all(entry.path(), ec);
    }
  }
}

}  // namespace
}  // namespace stipple::testing
