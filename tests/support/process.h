// End-to-end test support: real `stipple` processes. ServeProcess runs `stipple serve` on a free
// port; ChildProcess runs any command with its stdout and stderr captured, for tests that talk to
// a command while it runs (signals, live output). For tests only.
//
// Every child is killed (SIGKILL) when the thread that started it ends, the whole test process
// included (PR_SET_PDEATHSIG): a test killed by ctest's timeout or by a signal leaves no server
// holding its port. So start a child from a thread that outlives it (the test's own thread).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace stipple::testing {

// A fresh, empty directory under the system's temp dir, named after `name` and this process.
std::string TempDir(const std::string& name);

// One `stipple serve` child process on a free loopback port, on `model_dir` (empty: no
// --model-dir, so the binary finds its bundled model), with `data_dir`, in this process's working
// directory.
class ServeProcess {
 public:
  ServeProcess(const std::string& binary, const std::string& model_dir, const std::string& data_dir,
               std::vector<std::string> extra_args = {});
  ~ServeProcess();  // SIGKILL if still running
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  uint16_t port() const { return port_; }  // 0 when it did not print its address
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return pid_; }  // -1 once stopped

  // Sends `signo` and returns the exit status (128 + signal when killed), or -1 after 60 s.
  int Stop(int signo);

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

struct ProcessResult {
  int exit_code = -1;  // 128 + signal when killed; -1 when it did not end in time
  std::string out;
  std::string err;
};

// A child process with stdin from /dev/null and stdout/stderr captured through pipes.
class ChildProcess {
 public:
  // argv[0] is the program's path. `env` entries are set in the child's environment, on top of
  // this process's; an empty value unsets the variable.
  explicit ChildProcess(std::vector<std::string> argv,
                        const std::map<std::string, std::string>& env = {});
  ~ChildProcess();  // SIGKILL if still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Reads output until stderr holds `needle`, the child closes its output or `timeout` passes.
  // Returns whether the needle was seen.
  bool WaitForStderr(const std::string& needle,
                     std::chrono::milliseconds timeout = std::chrono::seconds(60));
  void Signal(int signo);
  // Reads everything until the child exits (or `timeout` passes: then it is killed).
  ProcessResult Finish(std::chrono::milliseconds timeout = std::chrono::seconds(120));

  const std::string& err() const { return err_; }
  pid_t pid() const { return pid_; }  // -1 once it ended

 private:
  bool Pump(std::chrono::milliseconds timeout);  // one read; false once both pipes are closed

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string out_;
  std::string err_;
};

// A long-running child process whose stdout and stderr both go to a log file (so a chatty child
// never blocks on a full pipe, and the log outlives it for a failure message).
class LoggedProcess {
 public:
  // argv[0] is the program's path; `log_path` is created (or truncated).
  LoggedProcess(std::vector<std::string> argv, std::string log_path);
  ~LoggedProcess();  // SIGKILL if still running
  LoggedProcess(const LoggedProcess&) = delete;
  LoggedProcess& operator=(const LoggedProcess&) = delete;

  pid_t pid() const { return pid_; }  // -1 once it ended
  bool running() const { return pid_ > 0; }
  // Everything it wrote so far.
  std::string Log() const;
  // Waits until the log holds `needle`; false when the process ended first or `timeout` passed.
  bool WaitForLog(const std::string& needle,
                  std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;
  // Sends `signo` and returns the exit status (128 + signal when killed), or -1 after 60 s.
  int Stop(int signo);

 private:
  pid_t pid_ = -1;
  std::string log_path_;
};

// Runs a command to its end and returns what it printed and its exit code.
ProcessResult RunProcess(std::vector<std::string> argv,
                         const std::map<std::string, std::string>& env = {},
                         std::chrono::milliseconds timeout = std::chrono::seconds(120));

}  // namespace stipple::testing
