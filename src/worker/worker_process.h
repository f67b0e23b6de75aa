// RunWorkerProcess: the body of a worker process (`stipple worker`): one Worker over a
// RemoteWorkSource until SIGTERM or SIGINT, then a drain within the grace, then exit 0.
//
// Supervised (`stipple serve --worker-processes N`, worker_supervisor.h), a worker process also
// ends when its supervisor dies: the supervisor names itself in STIPPLE_SUPERVISOR_PID and the
// process asks the kernel for a SIGTERM when its parent goes (PR_SET_PDEATHSIG).
#pragma once

#include <vector>

#include "engine/engine.h"
#include "worker/remote_work_source.h"
#include "worker/worker.h"

namespace stipple {

struct WorkerProcessOptions {
  RemoteWorkSourceOptions remote;
  WorkerOptions worker;
  Millis drain_grace{30'000};  // on SIGTERM: how long the running batch may still take
};

// Returns the exit code: 0 after a drain; 1 when the worker could not start (the reason on
// stderr: a bad token, an unreachable gateway, a model the engines do not run).
int RunWorkerProcess(std::vector<Engine*> engines, WorkerProcessOptions options);

}  // namespace stipple
