// RunWorkerProcess: the body of a worker process (`stipple worker`): one Worker over a
// RemoteWorkSource until SIGTERM or SIGINT, then a drain within the grace, then exit 0.
//
// Supervised (`stipple serve --worker-processes N`, worker_supervisor.h), a worker process also
// ends at once when its supervisor dies, wherever it is (loading models, connecting, running a
// batch): the supervisor names itself in STIPPLE_SUPERVISOR_PID, and the process asks the
// kernel for a SIGUSR2 when its parent goes (PR_SET_PDEATHSIG), whose handler exits without a
// drain — the gateway it would report to died with the supervisor; its leases lapse.
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

// Supervised (STIPPLE_SUPERVISOR_PID set): exit (status 1) when the parent dies, or at once when
// it already has. Called by RunWorkerProcess; call it earlier too (before loading models) so
// that a worker orphaned while it loads does not go on. Idempotent; does nothing unsupervised.
void FollowSupervisor();

// Returns the exit code: 0 after a drain; 1 when the worker could not start (the reason on
// stderr: a bad token, an unreachable gateway, a model the engines do not run).
int RunWorkerProcess(std::vector<Engine*> engines, WorkerProcessOptions options);

}  // namespace stipple
