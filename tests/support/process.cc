#include "process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

namespace stipple::testing {
namespace {

namespace fs = std::filesystem;

// In the child of a fork by `parent`: dies with the thread that forked it (a test killed by a
// timeout or a signal leaves no server behind holding its port), then runs argv.
[[noreturn]] void Exec(std::vector<std::string> argv, pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);  // the parent died before the prctl
  std::vector<char*> raw;
  for (std::string& a : argv) raw.push_back(a.data());
  raw.push_back(nullptr);
  execv(raw[0], raw.data());
  _exit(127);
}

// The exit status of `pid`, waiting up to `timeout` (then -1).
int WaitExit(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

std::string TempDir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / (name + "-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

ServeProcess::ServeProcess(const std::string& binary, const std::string& model_dir,
                           const std::string& data_dir, std::vector<std::string> extra_args) {
  int fds[2];
  if (pipe(fds) != 0) return;
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    std::vector<std::string> args = {binary,   "serve",     "--listen", "127.0.0.1:0", "--data-dir",
                                     data_dir, "--threads", "1",        "--log-level", "warn"};
    if (!model_dir.empty()) args.insert(args.end(), {"--model-dir", model_dir});
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    Exec(std::move(args), parent);
  }
  close(fds[1]);
  // The first stdout line: "stipple serving http://127.0.0.1:PORT  (...)".
  std::string line;
  char c;
  while (read(fds[0], &c, 1) == 1 && c != '\n') line.push_back(c);
  close(fds[0]);
  const size_t at = line.find("http://127.0.0.1:");
  if (at != std::string::npos) port_ = static_cast<uint16_t>(std::stoi(line.substr(at + 17)));
}

ServeProcess::~ServeProcess() {
  if (pid_ > 0) Stop(SIGKILL);
}

int ServeProcess::Stop(int signo) {
  kill(pid_, signo);
  const int code = WaitExit(pid_, std::chrono::seconds(60));
  if (code != -1) pid_ = -1;
  return code;
}

ChildProcess::ChildProcess(std::vector<std::string> argv,
                           const std::map<std::string, std::string>& env) {
  int out[2], err[2];
  if (pipe(out) != 0 || pipe(err) != 0) return;
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ == 0) {
    int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    for (int fd : {out[0], out[1], err[0], err[1], null}) close(fd);
    for (const auto& [name, value] : env) {
      if (value.empty()) {
        unsetenv(name.c_str());
      } else {
        setenv(name.c_str(), value.c_str(), 1);
      }
    }
    Exec(std::move(argv), parent);
  }
  close(out[1]);
  close(err[1]);
  out_fd_ = out[0];
  err_fd_ = err[0];
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    WaitExit(pid_, std::chrono::seconds(10));
  }
  if (out_fd_ >= 0) close(out_fd_);
  if (err_fd_ >= 0) close(err_fd_);
}

bool ChildProcess::Pump(std::chrono::milliseconds timeout) {
  pollfd fds[2];
  int n = 0;
  for (int fd : {out_fd_, err_fd_}) {
    if (fd >= 0) fds[n++] = pollfd{fd, POLLIN, 0};
  }
  if (n == 0) return false;
  if (poll(fds, n, static_cast<int>(timeout.count())) <= 0) return true;
  for (int i = 0; i < n; ++i) {
    if (fds[i].revents == 0) continue;
    char buffer[4096];
    const ssize_t got = read(fds[i].fd, buffer, sizeof(buffer));
    const bool is_out = fds[i].fd == out_fd_;
    if (got > 0) {
      (is_out ? out_ : err_).append(buffer, static_cast<size_t>(got));
    } else {
      close(fds[i].fd);
      (is_out ? out_fd_ : err_fd_) = -1;
    }
  }
  return true;
}

bool ChildProcess::WaitForStderr(const std::string& needle, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (err_.find(needle) == std::string::npos) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    if (!Pump(std::chrono::milliseconds(50))) return err_.find(needle) != std::string::npos;
  }
  return true;
}

void ChildProcess::Signal(int signo) {
  if (pid_ > 0) kill(pid_, signo);
}

ProcessResult ChildProcess::Finish(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline && Pump(std::chrono::milliseconds(50))) {
  }
  ProcessResult result;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  result.exit_code = WaitExit(pid_, std::max(left, std::chrono::milliseconds(1)));
  if (result.exit_code != -1) pid_ = -1;
  result.out = out_;
  result.err = err_;
  return result;
}

LoggedProcess::LoggedProcess(std::vector<std::string> argv, std::string log_path)
    : log_path_(std::move(log_path)) {
  const int log = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  if (log < 0) return;
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ == 0) {
    int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    dup2(log, 1);
    dup2(log, 2);
    close(null);
    close(log);
    Exec(std::move(argv), parent);
  }
  close(log);
}

LoggedProcess::~LoggedProcess() {
  if (pid_ > 0) Stop(SIGKILL);
}

std::string LoggedProcess::Log() const {
  std::ifstream in(log_path_);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool LoggedProcess::WaitForLog(const std::string& needle, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (Log().find(needle) == std::string::npos) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    siginfo_t info{};
    if (pid_ <= 0 ||
        (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == pid_)) {
      return Log().find(needle) != std::string::npos;  // it ended
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

int LoggedProcess::Stop(int signo) {
  if (pid_ <= 0) return -1;
  kill(pid_, signo);
  const int code = WaitExit(pid_, std::chrono::seconds(60));
  if (code != -1) pid_ = -1;
  return code;
}

ProcessResult RunProcess(std::vector<std::string> argv,
                         const std::map<std::string, std::string>& env,
                         std::chrono::milliseconds timeout) {
  ChildProcess child(std::move(argv), env);
  return child.Finish(timeout);
}

}  // namespace stipple::testing
