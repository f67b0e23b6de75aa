#include "worker/worker_supervisor.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"

extern char** environ;

namespace stipple {
namespace {

std::string Describe(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("signal ") + ::strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

}  // namespace

WorkerSupervisor::WorkerSupervisor(WorkerSupervisorOptions options) : options_(std::move(options)) {
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) envp_.emplace_back(*e);
  for (const auto& [name, value] : options_.env) envp_.push_back(name + "=" + value);
  envp_.push_back("STIPPLE_SUPERVISOR_PID=" + std::to_string(::getpid()));
}

WorkerSupervisor::~WorkerSupervisor() { Stop(); }

Result<pid_t> WorkerSupervisor::Spawn() {
  std::vector<char*> argv;
  for (const std::string& a : options_.command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& e : envp_) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  // The worker's stdout goes to our stderr: our stdout is for what this process prints. It
  // inherits nothing else: every other descriptor of ours (the listening socket, connections,
  // the database) is closed in the child even where its owner did not ask for close-on-exec, so
  // that an orphaned worker can never keep the gateway's port.
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
  ::posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  ::posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return InternalError("cannot start worker process " + options_.command[0] + ": " +
                         std::strerror(rc));
  }
  return pid;
}

Status WorkerSupervisor::Start() {
  if (options_.command.empty()) return InvalidArgumentError("the worker command is empty");
  if (options_.processes < 1) return InvalidArgumentError("processes must be at least 1");
  MutexLock lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  for (int i = 0; i < options_.processes; ++i) {
    ASSIGN_OR_RETURN(pid_t pid, Spawn());
    slots_.push_back(Slot{pid, now, now, Millis(0)});
    LogInfo("worker process started", {{"pid", std::to_string(pid)}});
  }
  watcher_ = std::thread([this] { WatchLoop(); });
  return Status::Ok();
}

void WorkerSupervisor::WatchLoop() {
  MutexLock lock(mu_);
  while (!stopping_) {
    const auto now = std::chrono::steady_clock::now();
    for (Slot& slot : slots_) {
      if (slot.pid > 0) {
        int status = 0;
        if (::waitpid(slot.pid, &status, WNOHANG) != slot.pid) continue;
        const bool healthy = now - slot.started >= options_.healthy_after;
        slot.backoff = healthy || slot.backoff == Millis(0)
                           ? options_.restart_min
                           : std::min(options_.restart_max, slot.backoff * 2);
        slot.restart_at = now + slot.backoff;
        LogWarn("worker process died; restarting",
                {{"pid", std::to_string(slot.pid)},
                 {"how", Describe(status)},
                 {"restart_in_ms", std::to_string(slot.backoff.count())}});
        slot.pid = -1;
      } else if (now >= slot.restart_at) {
        Result<pid_t> pid = Spawn();
        if (!pid.ok()) {
          LogWarn("worker process restart failed", {{"error", pid.status().ToString()}});
          slot.restart_at = now + options_.restart_max;
          continue;
        }
        slot.pid = *pid;
        slot.started = now;
        ++restarts_;
        LogInfo("worker process restarted", {{"pid", std::to_string(slot.pid)}});
      }
    }
    cv_.wait_for(lock.native(), std::chrono::milliseconds(100),
                 [&]() REQUIRES(mu_) { return stopping_; });
  }
}

void WorkerSupervisor::Stop() {
  {
    MutexLock lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
  MutexLock lock(mu_);
  for (const Slot& slot : slots_) {
    if (slot.pid > 0) ::kill(slot.pid, SIGTERM);
  }
  const auto deadline = std::chrono::steady_clock::now() + options_.stop_timeout;
  for (Slot& slot : slots_) {
    while (slot.pid > 0) {
      int status = 0;
      const pid_t done = ::waitpid(slot.pid, &status, WNOHANG);
      if (done == slot.pid || (done < 0 && errno == ECHILD)) {
        slot.pid = -1;
      } else if (std::chrono::steady_clock::now() >= deadline) {
        LogWarn("worker process did not drain in time; killing it",
                {{"pid", std::to_string(slot.pid)}});
        ::kill(slot.pid, SIGKILL);
        ::waitpid(slot.pid, &status, 0);
        slot.pid = -1;
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }
}

int WorkerSupervisor::restarts() const {
  MutexLock lock(mu_);
  return restarts_;
}

std::vector<pid_t> WorkerSupervisor::pids() const {
  MutexLock lock(mu_);
  std::vector<pid_t> out;
  for (const Slot& slot : slots_) {
    if (slot.pid > 0) out.push_back(slot.pid);
  }
  return out;
}

}  // namespace stipple
