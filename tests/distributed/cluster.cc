#include "cluster.h"

#include <signal.h>

#include <filesystem>
#include <sstream>
#include <thread>

#include "api/testing/http_test_support.h"

namespace stipple::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* kWorkerToken = "e2e-worker-token-0123456789";

// The port a gateway printed: "stipple gateway serving http://127.0.0.1:PORT  (…)".
uint16_t PrintedPort(const std::string& log) {
  const std::string marker = "serving http://127.0.0.1:";
  const size_t at = log.find(marker);
  if (at == std::string::npos) return 0;
  return static_cast<uint16_t>(std::stoi(log.substr(at + marker.size())));
}

}  // namespace

HttpAnswer Call(uint16_t port, const std::string& method, const std::string& target,
                const Headers& headers, const std::string& body) {
  HttpAnswer answer;
  try {
    http::testing::TestClient client(port);
    http::testing::TestResponse r = client.Send(method, target, headers, body);
    answer.status = r.status;
    answer.body = std::move(r.body);
    answer.retry_after = std::string(r.headers.Get("Retry-After").value_or(""));
  } catch (const std::exception&) {
    answer.status = 0;  // refused, broken, or no answer within the client's 30 s
  }
  return answer;
}

Cluster::Cluster(const std::string& name) : dir_(TempDir(name)) {}

Cluster::~Cluster() {
  workers_.clear();
  gateways_.clear();
  redis_.reset();
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

bool Cluster::Start(size_t gateways, const std::vector<WorkerSpec>& workers, int lease_s,
                    const LaunchOptions& extra) {
  const std::string binary = extra.binary.empty() ? STIPPLE_BINARY : extra.binary;
  Result<std::unique_ptr<redis::RedisTestServer>> redis =
      redis::RedisTestServer::Start({.appendonly = true, .appendfsync = "always"});
  if (!redis.ok()) {
    error_ = "redis-server: " + redis.status().ToString();
    return false;
  }
  redis_ = std::move(redis).value();
  for (size_t i = 0; i < gateways; ++i) {
    const std::string name = "g" + std::to_string(i);
    std::vector<std::string> argv = {
        binary,        "gateway",         "--listen",    "127.0.0.1:0",     "--store",
        redis_->url(), "--results",       redis_->url(), "--worker-token",  kWorkerToken,
        "--data-dir",  dir_ + "/" + name, "--model-dir", STIPPLE_MODEL_DIR, "--io-threads",
        "2",           "--log-level",     "warn"};
    argv.insert(argv.end(), extra.gateway.begin(), extra.gateway.end());
    gateways_.push_back(std::make_unique<LoggedProcess>(argv, dir_ + "/" + name + ".log"));
    if (!gateways_.back()->WaitForLog("serving http://")) {
      error_ = "gateway " + name + " did not start:\n" + gateways_.back()->Log();
      return false;
    }
    ports_.push_back(PrintedPort(gateways_.back()->Log()));
    argv[3] = "127.0.0.1:" + std::to_string(ports_.back());  // a restart takes the same port
    gateway_argv_.push_back(std::move(argv));
  }
  for (size_t i = 0; i < workers.size(); ++i) {
    const std::string id = "w" + std::to_string(i);
    std::vector<std::string> argv = {binary, "worker"};
    for (size_t g : workers[i].gateways) {
      argv.push_back("--gateway");
      argv.push_back("http://127.0.0.1:" + std::to_string(ports_.at(g)));
    }
    for (const char* a :
         {"--token", kWorkerToken, "--model-dir", STIPPLE_MODEL_DIR, "--threads", "1",
          "--max-batch", "4", "--drain-grace-s", "5", "--log-level", "debug"}) {
      argv.push_back(a);
    }
    for (const std::string& a :
         {std::string("--lease-s"), std::to_string(lease_s), std::string("--worker-id"), id}) {
      argv.push_back(a);
    }
    argv.insert(argv.end(), extra.worker.begin(), extra.worker.end());
    workers_.push_back(std::make_unique<LoggedProcess>(argv, dir_ + "/" + id + ".log"));
    worker_argv_.push_back(std::move(argv));
  }
  for (size_t i = 0; i < workers_.size(); ++i) {  // "serving" comes after its hello was answered
    if (!workers_[i]->WaitForLog("serving http://")) {
      error_ = "worker w" + std::to_string(i) + " did not start:\n" + workers_[i]->Log();
      return false;
    }
  }
  for (size_t i = 0; i < gateways_.size(); ++i) {
    if (!Eventually([&] { return Call(ports_[i], "GET", "/readyz").status == 200; }, kClusterWait,
                    std::chrono::milliseconds(50))) {
      error_ = "gateway g" + std::to_string(i) + " never ready";
      return false;
    }
  }
  return true;
}

bool Cluster::RestartGateway(size_t i, std::chrono::milliseconds timeout) {
  const std::string log = dir_ + "/g" + std::to_string(i) + "-" + std::to_string(++restarts_);
  gateways_[i] = std::make_unique<LoggedProcess>(gateway_argv_[i], log + ".log");
  if (!gateways_[i]->WaitForLog("serving http://", timeout)) {
    error_ = "gateway g" + std::to_string(i) + " did not start again:\n" + gateways_[i]->Log();
    return false;
  }
  return true;
}

void Cluster::RestartWorker(size_t i) {
  const std::string log = dir_ + "/w" + std::to_string(i) + "-" + std::to_string(++restarts_);
  workers_[i] = std::make_unique<LoggedProcess>(worker_argv_[i], log + ".log");
}

std::vector<size_t> Cluster::WorkersThatLeased(const std::string& task_id) const {
  std::vector<size_t> out;
  for (size_t i = 0; i < workers_.size(); ++i) {
    std::istringstream log(workers_[i]->Log());
    for (std::string line; std::getline(log, line);) {
      if (line.find("task leased") != std::string::npos &&
          line.find(task_id) != std::string::npos) {
        out.push_back(i);
        break;
      }
    }
  }
  return out;
}

std::string Cluster::Logs() const {
  std::string out;
  auto add = [&](const std::string& name, const LoggedProcess& p) {
    std::string log = p.Log();
    if (log.size() > 4000) log = "…" + log.substr(log.size() - 4000);
    out += "--- " + name + " ---\n" + log + "\n";
  };
  for (size_t i = 0; i < gateways_.size(); ++i) add("g" + std::to_string(i), *gateways_[i]);
  for (size_t i = 0; i < workers_.size(); ++i) add("w" + std::to_string(i), *workers_[i]);
  return out;
}

boost::json::object Json(const std::string& body) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return {};
  return v.as_object();
}

HttpAnswer SubmitTask(uint16_t port, const std::string& body, int wait_s) {
  Headers headers = {{"Content-Type", "application/json"}};
  if (wait_s > 0) headers.push_back({"Prefer", "wait=" + std::to_string(wait_s)});
  return Call(port, "POST", "/v1/tasks", headers, body);
}

std::optional<boost::json::object> GetTask(uint16_t port, const std::string& id) {
  HttpAnswer r = Call(port, "GET", "/v1/tasks/" + id);
  if (r.status != 200) return std::nullopt;
  return Json(r.body);
}

std::optional<boost::json::object> AwaitTask(
    uint16_t port, const std::string& id,
    const std::function<bool(const boost::json::object&)>& done,
    std::chrono::milliseconds timeout) {
  std::optional<boost::json::object> last;
  Eventually(
      [&] {
        std::optional<boost::json::object> task = GetTask(port, id);
        if (task) last = std::move(task);
        return last && done(*last);
      },
      timeout, std::chrono::milliseconds(50));
  if (last && !done(*last)) return std::nullopt;
  return last;
}

std::string TaskBody(int i, int steps, int images) {
  return R"({"prompt":"a big red circle )" + std::to_string(i) + R"(","steps":)" +
         std::to_string(steps) + R"(,"num_images":)" + std::to_string(images) + R"(,"seed":)" +
         std::to_string(1000 + i) + "}";
}

std::string Str(const boost::json::object& o, const char* key) {
  const boost::json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

int64_t Int(const boost::json::object& o, const char* key) {
  const boost::json::value* v = o.if_contains(key);
  return v != nullptr && v->is_number() ? v->to_number<int64_t>() : -1;
}

bool Terminal(const boost::json::object& task) {
  const boost::json::value* s = task.if_contains("status");
  if (s == nullptr || !s->is_string()) return false;
  const std::string status(s->get_string());
  return status == "succeeded" || status == "failed" || status == "canceled" || status == "expired";
}

int64_t EndedTotal(uint16_t port, const std::string& status) {
  HttpAnswer r = Call(port, "GET", "/metrics");
  if (r.status != 200) return -1;
  const std::string name = "stipple_tasks_ended_total{status=\"" + status + "\"} ";
  const size_t at = r.body.find(name);
  if (at == std::string::npos) return -1;
  return std::stoll(r.body.substr(at + name.size()));
}

}  // namespace stipple::testing
