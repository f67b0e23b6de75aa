// The end-to-end support's child processes: they end with the process that started them.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "process.h"

namespace stipple::testing {
namespace {

// Whether `pid` is gone or a zombie (killed, not yet reaped by whoever adopted it).
bool Gone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  const size_t close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

// Forks a stand-in for a test process, which starts a child with `start` (returning its pid) and
// waits; kills the stand-in with SIGKILL, as ctest's timeout does; true when the child went with
// it.
template <typename Start>
::testing::AssertionResult ChildDiesWithItsParent(Start start) {
  int fds[2];
  if (pipe(fds) != 0) return ::testing::AssertionFailure() << "pipe";
  const pid_t test = fork();
  if (test < 0) return ::testing::AssertionFailure() << "fork";
  if (test == 0) {
    close(fds[0]);
    const pid_t child = start();
    if (write(fds[1], &child, sizeof child) != sizeof child) _exit(1);
    pause();
    _exit(0);
  }
  close(fds[1]);
  pid_t child = -1;
  const bool got = read(fds[0], &child, sizeof child) == static_cast<ssize_t>(sizeof child);
  close(fds[0]);
  if (!got || child <= 0 || Gone(child)) {
    kill(test, SIGKILL);
    waitpid(test, nullptr, 0);
    return ::testing::AssertionFailure() << "the child did not start";
  }
  kill(test, SIGKILL);
  waitpid(test, nullptr, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!Gone(child) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (Gone(child)) return ::testing::AssertionSuccess();
  kill(child, SIGKILL);
  return ::testing::AssertionFailure() << "pid " << child << " outlived its parent";
}

// A test killed by a timeout or a signal leaves no child behind holding a port or a CPU.
TEST(E2eSupport, AChildProcessDiesWithTheProcessThatStartedIt) {
  EXPECT_TRUE(ChildDiesWithItsParent([] {
    static ChildProcess sleeper({"/bin/sleep", "60"});
    return sleeper.pid();
  }));
}

TEST(E2eSupport, ALoggedProcessDiesWithTheProcessThatStartedIt) {
  EXPECT_TRUE(ChildDiesWithItsParent([] {
    static LoggedProcess sleeper({"/bin/sleep", "60"}, TempDir("e2e-support") + "/log");
    return sleeper.pid();
  }));
}

}  // namespace
}  // namespace stipple::testing
