// Chaos under load: stipple bench's load generator (src/loadgen: async, sync, SSE followers,
// webhooks, cancels) runs against a real deployment while a controller kills its processes with
// SIGKILL at random moments and starts them again; then the run settles and the invariants of
// chaos_check.h are checked from the store and the clients' records.
//
// Contract:
// - Seeded: the controller's choices (which process, when, how long it stays down) come from one
//   std::mt19937_64 seeded with ChaosOptions::seed, printed in the report; the same seed makes
//   the same choices (the moments the processes reach differ from run to run).
// - Faults happen during the load's send phase only; when it ends every process is running
//   again. Then the load drains, the deployment settles (queue empty, then one more lease
//   period for leases to expire and the housekeeper to run) and is observed.
// - A deployment that cannot be started again is a violation ("restart-failed"), not a crash.
// - Everything it starts is stopped by the Deployment's destructor.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "chaos_check.h"
#include "common/status.h"
#include "loadgen/load_run.h"

namespace stipple::chaos {

// A deployment the controller can break, started by its maker (MakeEmbedded, MakeDistributed).
class Deployment {
 public:
  virtual ~Deployment() = default;
  virtual std::string url() const = 0;  // where the clients send their requests
  virtual int lease_s() const = 0;
  // What may be killed now: "serve", "worker-process", "g0", "w1", "redis", …
  virtual std::vector<std::string> Targets() = 0;
  // SIGKILL to one process of `target` (a random one of several: `pick` chooses). Returns what
  // was killed ("serve pid 123").
  virtual std::string Kill(const std::string& target, uint64_t pick) = 0;
  // Starts again what Kill stopped (nothing for a process whose supervisor restarts it).
  virtual Status Restart(const std::string& target) = 0;
  // After the run: reads the store (the deployment may be stopped and started for it).
  virtual Result<StoreView> Observe(std::vector<std::string> running_after_settle) = 0;
  virtual std::string Logs() = 0;
};

struct DeploymentOptions {
  std::string binary;     // the stipple binary
  std::string model_dir;  // --model-dir (the null model ignores its contents)
  int lease_s = 3;
  int worker_processes = 2;  // embedded: serve --worker-processes; distributed: stipple worker
  int gateways = 2;          // distributed only
};

// `stipple serve --model null --worker-processes N` on SQLite and files; targets "serve" and
// "worker-process".
Result<std::unique_ptr<Deployment>> MakeEmbedded(const DeploymentOptions& options);
// redis-server, `gateways` gateways, `worker_processes` workers (each on every gateway,
// starting with a different one); targets "redis", "g0"…, "w0"…. Clients go to g0.
Result<std::unique_ptr<Deployment>> MakeDistributed(const DeploymentOptions& options);

struct ChaosOptions {
  uint64_t seed = 1;
  loadgen::LoadOptions load;                               // server_url is set to the deployment's
  std::chrono::milliseconds min_gap{1000}, max_gap{3000};  // between faults
  std::chrono::milliseconds max_down{1500};                // a killed process stays down
};

struct ChaosReport {
  uint64_t seed = 0;
  std::map<std::string, int> faults;  // by target
  int64_t sent = 0, acknowledged = 0, refused = 0, seen_ended = 0, stored = 0;
  int64_t webhook_deliveries = 0, cancels = 0;
  std::map<std::string, int64_t> ended;  // store's terminal states
  double run_s = 0;
  std::vector<Violation> violations;
  std::vector<std::string> log;  // the faults, in order: "12.3 s kill serve pid 123 (down 0.8 s)"
  // Failed tasks of the store by error code ("worker_lost 12").
  std::map<std::string, int64_t> failed_by_code;
  // Acknowledged tasks whose client never saw an end (allowed, not a violation: the store's end
  // is what counts), one line each with the request's kind, when it was sent, and the store's
  // record: "tsk_… sse sent 12.3 s: store succeeded, started +0.4 s, ended +1.1 s, 2 attempts".
  std::vector<std::string> unseen_ends;

  int TotalFaults() const;
  // A few lines: seed, faults, tasks, violations (each, up to `max_violations`).
  std::string Summary(size_t max_violations = 20) const;
};

// kUnavailable when the load could not start (the deployment unreachable); the run otherwise.
Result<ChaosReport> RunChaos(Deployment& deployment, const ChaosOptions& options);

}  // namespace stipple::chaos
