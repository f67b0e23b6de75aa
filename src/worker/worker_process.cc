#include "worker/worker_process.h"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/log.h"
#include "worker/shutdown_signal.h"

namespace stipple {
namespace {

// The supervisor's pid (STIPPLE_SUPERVISOR_PID), read once; 0 when unsupervised.
std::atomic<pid_t> supervisor_pid{0};

// SIGUSR2, asked for on the parent's death. The kernel also sends it when the *thread* that
// spawned this process ends (a supervisor's restart thread, at its Stop), so it checks that
// the parent has really gone. Async-signal-safe: getppid, write, _exit.
void OnParentDeath(int) {
  if (::getppid() == supervisor_pid.load()) return;
  static const char kLine[] = "stipple worker: supervisor gone; exiting\n";
  [[maybe_unused]] ssize_t ignored = ::write(STDERR_FILENO, kLine, sizeof(kLine) - 1);
  ::_exit(1);
}

}  // namespace

void FollowSupervisor() {
  const char* text = std::getenv("STIPPLE_SUPERVISOR_PID");
  if (text == nullptr) return;
  supervisor_pid = static_cast<pid_t>(std::atoi(text));
  struct sigaction action;
  std::memset(&action, 0, sizeof(action));
  action.sa_handler = OnParentDeath;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  ::sigaction(SIGUSR2, &action, nullptr);
  ::prctl(PR_SET_PDEATHSIG, SIGUSR2);
  OnParentDeath(SIGUSR2);  // it died before the prctl: exit now
}

int RunWorkerProcess(std::vector<Engine*> engines, WorkerProcessOptions options) {
  if (Status st = ShutdownSignal::Install(); !st.ok()) {
    std::fprintf(stderr, "stipple worker: %s\n", st.ToString().c_str());
    return 1;
  }
  FollowSupervisor();
  Result<std::unique_ptr<RemoteWorkSource>> source = RemoteWorkSource::Create(options.remote);
  if (!source.ok()) {
    std::fprintf(stderr, "stipple worker: %s\n", source.status().ToString().c_str());
    return 1;
  }
  Worker worker(source->get(), std::move(engines), options.worker);
  if (Status st = worker.Start(); !st.ok()) {
    std::fprintf(stderr, "stipple worker: %s\n", st.ToString().c_str());
    return 1;
  }
  std::string gateways = options.remote.gateway_url;
  for (const std::string& other : options.remote.other_gateways) gateways += ", " + other;
  std::printf("stipple worker %s serving %s\n", worker.info().id.c_str(), gateways.c_str());
  std::fflush(stdout);
  const int signo = ShutdownSignal::Wait();
  LogInfo("worker process draining", {{"signal", std::to_string(signo)}});
  worker.Drain(options.drain_grace);
  return 0;
}

}  // namespace stipple
