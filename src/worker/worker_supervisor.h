// WorkerSupervisor: runs N worker processes (`stipple serve --worker-processes N`) and restarts
// one that dies, with a backoff, so an engine crash (a CUDA fault, an abort in libtorch) costs a
// worker process, never the API. A process that dies mid-task leaves its lease to lapse; the
// task runs again elsewhere (or fails after its max_attempts, so a task that crashes every
// worker cannot crash them forever).
//
// Not thread-safe: Start and Stop from one thread; restarts() and pids() from any.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "common/thread_annotations.h"

namespace stipple {

struct WorkerSupervisorOptions {
  // argv of one worker process (argv[0] a path); its environment is this process's plus `env`
  // plus STIPPLE_SUPERVISOR_PID; its stdout is this process's stderr; it inherits no other
  // descriptor (stdin and stderr aside), whether or not it was opened close-on-exec.
  std::vector<std::string> command;
  std::vector<std::pair<std::string, std::string>> env;
  int processes = 1;
  // After a death the restart waits restart_min, doubling up to restart_max while processes
  // keep dying within healthy_after of their start.
  Millis restart_min{500};
  Millis restart_max{30'000};
  Millis healthy_after{10'000};
  // Stop: SIGTERM, then SIGKILL after this long.
  Millis stop_timeout{40'000};
};

class WorkerSupervisor {
 public:
  explicit WorkerSupervisor(WorkerSupervisorOptions options);
  ~WorkerSupervisor();  // Stop()

  // Starts every process and the watching thread. kInvalidArgument for an empty command;
  // kInternal when a process cannot be spawned.
  Status Start();
  // SIGTERM to every process (each drains), waits for them (SIGKILL past stop_timeout); no
  // restarts from now on. Idempotent.
  void Stop();

  int restarts() const;
  std::vector<pid_t> pids() const;  // the live processes

 private:
  struct Slot {
    pid_t pid = -1;
    std::chrono::steady_clock::time_point started;
    std::chrono::steady_clock::time_point restart_at;
    Millis backoff{0};
  };
  Result<pid_t> Spawn();
  void WatchLoop();

  const WorkerSupervisorOptions options_;
  std::vector<std::string> envp_;  // prepared once
  mutable Mutex mu_;
  std::condition_variable cv_;
  std::vector<Slot> slots_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  int restarts_ GUARDED_BY(mu_) = 0;
  std::thread watcher_;
};

}  // namespace stipple
