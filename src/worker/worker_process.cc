#include "worker/worker_process.h"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/log.h"
#include "worker/shutdown_signal.h"

namespace stipple {
namespace {

// A supervised worker ends with its supervisor.
void FollowSupervisor() {
  const char* pid = std::getenv("STIPPLE_SUPERVISOR_PID");
  if (pid == nullptr) return;
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (std::to_string(::getppid()) != pid) ::raise(SIGTERM);  // it died before the prctl
}

}  // namespace

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
