// The distributed deployment as separate processes, for the end-to-end tests: one real
// redis-server (AOF with appendfsync always, so a SIGKILL loses nothing acknowledged), several
// `stipple gateway` processes on it (--store and --results redis://), and `stipple worker`
// processes on the bundled model, each naming the gateways in its own order (failover). Every
// process logs to a file in the cluster's directory. Any of them can be killed and started again in
// its place (same port, same worker id), for the chaos tests (tests/chaos). Plus the HTTP calls
// the tests make.
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/testing/eventually.h"
#include "process.h"
#include "store/redis/testing/redis_test_server.h"

namespace stipple::testing {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpAnswer {
  int status = 0;  // 0: no answer (refused, broken, or nothing within 30 s)
  std::string body;
  std::string retry_after;  // the Retry-After header, if any
};

// One request on a new connection to 127.0.0.1:port.
HttpAnswer Call(uint16_t port, const std::string& method, const std::string& target,
                const Headers& headers = {}, const std::string& body = "");

class Cluster {
 public:
  struct WorkerSpec {
    std::vector<size_t> gateways;  // indexes, in the order the worker tries them
  };
  // How the processes are started: the stipple binary (empty: this build's) and arguments added
  // to every gateway's and every worker's command line (e.g. --model null).
  struct LaunchOptions {
    std::string binary;
    std::vector<std::string> gateway;
    std::vector<std::string> worker;
  };

  explicit Cluster(const std::string& name);
  ~Cluster();  // SIGKILL to everything still running; the directory is removed

  // Starts Redis, `gateways` gateways and the workers (ids w0, w1, …, leases of `lease_s`), and
  // waits until every gateway is ready and every worker has said hello. False (with the reason
  // in error()) when something did not start.
  bool Start(size_t gateways, const std::vector<WorkerSpec>& workers, int lease_s = 6,
             const LaunchOptions& extra = {});

  // Starts gateway i (or worker i) again with its first command line (a gateway on its first
  // port), after it died or was killed; its log goes to a new file. False (error()) when the
  // gateway does not print its address within `timeout`.
  bool RestartGateway(size_t i, std::chrono::milliseconds timeout = std::chrono::seconds(60));
  void RestartWorker(size_t i);
  const std::string& dir() const { return dir_; }

  redis::RedisTestServer& redis() { return *redis_; }
  uint16_t port(size_t gateway) const { return ports_[gateway]; }
  size_t gateways() const { return gateways_.size(); }
  LoggedProcess& gateway(size_t i) { return *gateways_[i]; }
  LoggedProcess& worker(size_t i) { return *workers_[i]; }
  size_t workers() const { return workers_.size(); }
  const std::string& error() const { return error_; }

  // The workers whose logs say they leased `task_id` (their indexes).
  std::vector<size_t> WorkersThatLeased(const std::string& task_id) const;
  // Every process's log, for a failure message.
  std::string Logs() const;

 private:
  std::string dir_;
  std::unique_ptr<redis::RedisTestServer> redis_;
  std::vector<std::unique_ptr<LoggedProcess>> gateways_;
  std::vector<uint16_t> ports_;
  std::vector<std::unique_ptr<LoggedProcess>> workers_;
  std::vector<std::vector<std::string>> gateway_argv_, worker_argv_;
  int restarts_ = 0;  // names the logs of restarted processes
  std::string error_;
};

// The task API over HTTP.
boost::json::object Json(const std::string& body);
// POSTs a task; with `wait_s` > 0, synchronously (Prefer: wait). The answer as is.
HttpAnswer SubmitTask(uint16_t port, const std::string& body, int wait_s = 0);
// GET /v1/tasks/{id}; nullopt unless 200.
std::optional<boost::json::object> GetTask(uint16_t port, const std::string& id);
// Polls GET /v1/tasks/{id} (every 50 ms) until `done` holds; the last task seen, or nullopt
// after `timeout`.
std::optional<boost::json::object> AwaitTask(
    uint16_t port, const std::string& id,
    const std::function<bool(const boost::json::object&)>& done,
    std::chrono::milliseconds timeout = std::chrono::seconds(120));
// A task body: prompt and seed from `i`, `steps` steps, `images` images.
std::string TaskBody(int i, int steps = 4, int images = 1);
// A string member of `o` ("" when absent or not a string); an integer member (-1 likewise).
std::string Str(const boost::json::object& o, const char* key);
int64_t Int(const boost::json::object& o, const char* key);
// Whether the task's status is terminal.
bool Terminal(const boost::json::object& task);
// How long the cluster's tests wait for what processes of the cluster do (Eventually,
// common/testing/eventually.h): a bound on a broken run, generous on a loaded machine.
inline constexpr std::chrono::milliseconds kClusterWait = std::chrono::seconds(120);
// stipple_tasks_ended_total{status="STATUS"} of one gateway (-1 when unreadable).
int64_t EndedTotal(uint16_t port, const std::string& status);

}  // namespace stipple::testing
