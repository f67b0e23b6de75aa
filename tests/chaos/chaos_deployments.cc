// The two deployments of chaos_run.h: embedded (`stipple serve` with worker processes) and
// distributed (tests/distributed's Cluster: redis-server, gateways, workers).
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "chaos_run.h"
#include "cluster.h"
#include "process.h"
#include "results/fs_result_store.h"
#include "results/redis/redis_result_store.h"
#include "store/redis/redis_task_store.h"
#include "store/sqlite/sqlite_task_store.h"

namespace stipple::chaos {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using testing::Call;
using testing::Eventually;
using testing::LoggedProcess;

// What chaos changes from the defaults, for every server: webhooks to the load generator's
// receiver on loopback, and retries of a failed delivery within the run (1 s … 10 s instead of
// 5 s … 10 h).
const std::vector<std::string> kServerArgs = {"--model", "null", "--webhook-allow-private",
                                              "--webhook-retry-schedule", "1,2,5,10"};

bool Ready(uint16_t port) {
  return Eventually([&] { return Call(port, "GET", "/readyz").status == 200; },
                    std::chrono::seconds(60));
}

// Every task of a store, by id.
Result<std::map<std::string, Task>> AllTasks(TaskStore& store) {
  std::map<std::string, Task> all;
  ListQuery query{.limit = 100};
  do {
    ASSIGN_OR_RETURN(TaskPage page, store.List(query));
    for (Task& t : page.tasks) all.emplace(t.id, std::move(t));
    query.cursor = page.next_cursor;
  } while (!query.cursor.empty());
  return all;
}

// Reads back every output of every succeeded task.
void ReadOutputs(ResultStore& results, StoreView& view) {
  for (const auto& [id, task] : view.tasks) {
    if (task.state != TaskState::kSucceeded || task.outputs_expired) continue;
    for (const TaskOutput& out : task.outputs) {
      Result<OutputBytes> bytes = results.Get(id, task.fencing, out.index);
      if (!bytes.ok()) {
        view.unreadable_outputs.push_back(id + " output " + std::to_string(out.index) + ": " +
                                          bytes.status().ToString());
      }
    }
  }
}

std::string Tail(const std::string& log) {
  return log.size() > 4000 ? "…" + log.substr(log.size() - 4000) : log;
}

class Embedded : public Deployment {
 public:
  explicit Embedded(const DeploymentOptions& options)
      : options_(options), dir_(testing::TempDir("stipple-chaos-embedded")) {}
  ~Embedded() override {
    serve_.reset();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  Status Start() {
    // A port a killed server's workers still held would fail the bind: tried again for a while,
    // and reported if it lasts.
    for (int attempt = 0; attempt < 40; ++attempt) {
      serve_ = std::make_unique<LoggedProcess>(
          Argv(), dir_ + "/serve-" + std::to_string(++starts_) + ".log");
      if (serve_->WaitForLog("serving http://")) break;
      last_log_ = Tail(serve_->Log());
      serve_.reset();
      std::this_thread::sleep_for(milliseconds(500));
    }
    if (!serve_) return UnavailableError("stipple serve did not start: " + last_log_);
    if (port_ == 0) {
      const std::string log = serve_->Log();
      const size_t at = log.find("http://127.0.0.1:");
      if (at != std::string::npos) port_ = static_cast<uint16_t>(std::stoi(log.substr(at + 17)));
    }
    if (port_ == 0 || !Ready(port_)) {
      return UnavailableError("stipple serve is not ready:\n" + Tail(serve_->Log()));
    }
    return Status::Ok();
  }

  std::string url() const override { return "http://127.0.0.1:" + std::to_string(port_); }
  int lease_s() const override { return options_.lease_s; }

  std::vector<std::string> Targets() override {
    if (!serve_ || !serve_->running()) return {};
    if (Workers().empty()) return {"serve"};
    return {"serve", "worker-process"};
  }

  std::string Kill(const std::string& target, uint64_t pick) override {
    if (target == "serve") {
      const pid_t pid = serve_->pid();
      last_log_ = Tail(serve_->Log());
      serve_->Stop(SIGKILL);
      return "serve pid " + std::to_string(pid);
    }
    std::vector<pid_t> workers = Workers();
    if (workers.empty()) return "no worker process";
    const pid_t pid = workers[pick % workers.size()];
    kill(pid, SIGKILL);  // its supervisor, the serve process, starts another
    return "worker-process pid " + std::to_string(pid);
  }

  Status Restart(const std::string& target) override {
    if (target != "serve") return Status::Ok();
    return Start();
  }

  Result<StoreView> Observe(std::vector<std::string> running_after_settle) override {
    // Stopped and started once more: the housekeeper's first pass after a start sweeps the
    // outputs no lease owns; then stopped, so that the store can be opened here.
    serve_->Stop(SIGTERM);
    RETURN_IF_ERROR(Start());
    std::this_thread::sleep_for(std::chrono::seconds(3));
    serve_->Stop(SIGTERM);
    StoreView view;
    view.running_after_settle = std::move(running_after_settle);
    ASSIGN_OR_RETURN(std::unique_ptr<SqliteTaskStore> store,
                     SqliteTaskStore::Open({.path = dir_ + "/data/tasks.db"}));
    ASSIGN_OR_RETURN(view.tasks, AllTasks(*store));
    ASSIGN_OR_RETURN(std::unique_ptr<FsResultStore> results,
                     FsResultStore::Open({.dir = dir_ + "/data/outputs"}));
    ReadOutputs(*results, view);
    ASSIGN_OR_RETURN(view.leases, results->ListLeases());
    return view;
  }

  std::string Logs() override { return serve_ ? Tail(serve_->Log()) : last_log_; }

 private:
  std::vector<std::string> Argv() const {
    std::vector<std::string> argv = {
        options_.binary,      "serve",
        "--listen",           "127.0.0.1:" + std::to_string(port_),
        "--data-dir",         dir_ + "/data",
        "--model-dir",        options_.model_dir,
        "--worker-processes", std::to_string(options_.worker_processes),
        "--lease-s",          std::to_string(options_.lease_s),
        "--drain-grace-s",    "2",
        "--io-threads",       "2",
        "--log-level",        "warn"};
    argv.insert(argv.end(), kServerArgs.begin(), kServerArgs.end());
    return argv;
  }

  // The serve process's children (its worker processes), from /proc.
  std::vector<pid_t> Workers() const {
    std::vector<pid_t> out;
    if (!serve_ || !serve_->running()) return out;
    std::error_code ec;
    const fs::path tasks = "/proc/" + std::to_string(serve_->pid()) + "/task";
    for (const fs::directory_entry& t : fs::directory_iterator(tasks, ec)) {
      std::ifstream children(t.path() / "children");
      for (pid_t pid; children >> pid;) out.push_back(pid);
    }
    return out;
  }

  const DeploymentOptions options_;
  const std::string dir_;
  uint16_t port_ = 0;
  int starts_ = 0;
  std::unique_ptr<LoggedProcess> serve_;
  std::string last_log_;  // the log of the last serve process killed
};

class Distributed : public Deployment {
 public:
  explicit Distributed(const DeploymentOptions& options)
      : options_(options), cluster_("stipple-chaos-distributed") {}

  Status Start() {
    std::vector<testing::Cluster::WorkerSpec> workers;
    for (int w = 0; w < options_.worker_processes; ++w) {
      testing::Cluster::WorkerSpec spec;
      for (int g = 0; g < options_.gateways; ++g) {
        spec.gateways.push_back(static_cast<size_t>((w + g) % options_.gateways));
      }
      workers.push_back(std::move(spec));
    }
    testing::Cluster::LaunchOptions extra{
        .binary = options_.binary, .gateway = kServerArgs, .worker = {"--model", "null"}};
    if (!cluster_.Start(static_cast<size_t>(options_.gateways), workers, options_.lease_s, extra)) {
      return UnavailableError("the cluster did not start: " + cluster_.error());
    }
    return Status::Ok();
  }

  std::string url() const override {
    return "http://127.0.0.1:" + std::to_string(cluster_.port(0));
  }
  int lease_s() const override { return options_.lease_s; }

  std::vector<std::string> Targets() override {
    std::vector<std::string> out = {"redis"};
    for (size_t g = 0; g < cluster_.gateways(); ++g) out.push_back("g" + std::to_string(g));
    for (size_t w = 0; w < cluster_.workers(); ++w) out.push_back("w" + std::to_string(w));
    return out;
  }

  std::string Kill(const std::string& target, uint64_t) override {
    if (target == "redis") {
      (void)cluster_.redis().Stop(/*kill=*/true);
      return "redis-server";
    }
    LoggedProcess& p = Process(target);
    const pid_t pid = p.pid();
    p.Stop(SIGKILL);
    return target + " pid " + std::to_string(pid);
  }

  Status Restart(const std::string& target) override {
    if (target == "redis") return cluster_.redis().Restart();
    const size_t i = std::stoul(target.substr(1));
    if (target[0] == 'w') {
      cluster_.RestartWorker(i);
      return Status::Ok();
    }
    if (!cluster_.RestartGateway(i) || !Ready(cluster_.port(i))) {
      return UnavailableError("gateway " + target + " did not come back: " + cluster_.error());
    }
    return Status::Ok();
  }

  Result<StoreView> Observe(std::vector<std::string> running_after_settle) override {
    StoreView view;
    view.running_after_settle = std::move(running_after_settle);
    ASSIGN_OR_RETURN(std::unique_ptr<RedisTaskStore> store,
                     RedisTaskStore::Open({.url = cluster_.redis().url()}));
    ASSIGN_OR_RETURN(view.tasks, AllTasks(*store));
    ASSIGN_OR_RETURN(std::unique_ptr<RedisResultStore> results,
                     RedisResultStore::Open({.url = cluster_.redis().url()}));
    ReadOutputs(*results, view);
    // Redis cannot list leases: an output of a lost lease expires with its TTL (docs/redis.md).
    return view;
  }

  std::string Logs() override { return cluster_.Logs(); }

 private:
  LoggedProcess& Process(const std::string& target) {
    const size_t i = std::stoul(target.substr(1));
    return target[0] == 'g' ? cluster_.gateway(i) : cluster_.worker(i);
  }

  const DeploymentOptions options_;
  testing::Cluster cluster_;
};

}  // namespace

Result<std::unique_ptr<Deployment>> MakeEmbedded(const DeploymentOptions& options) {
  auto d = std::make_unique<Embedded>(options);
  RETURN_IF_ERROR(d->Start());
  return std::unique_ptr<Deployment>(std::move(d));
}

Result<std::unique_ptr<Deployment>> MakeDistributed(const DeploymentOptions& options) {
  auto d = std::make_unique<Distributed>(options);
  RETURN_IF_ERROR(d->Start());
  return std::unique_ptr<Deployment>(std::move(d));
}

}  // namespace stipple::chaos
