// The gateway's submit and status paths under load, side by side with the baseline a Python team
// would deploy for the same two endpoints: FastAPI on uvicorn (2 worker processes, one per core)
// sending the task to Celery over Redis (bench/fastapi_baseline/app.py). Both are driven by the
// same load generator (h2load over HTTP/1.1 keep-alive, ~300-byte JSON bodies) on loopback.
//
// stipple side: the HTTP server over LocalTaskService, the SQLite task store (default options:
// group commit, fsync), the in-memory event bus and the file result store — `stipple serve`
// without its in-process workers, so tasks stay queued and the engine takes no CPU. Neither side
// runs a worker.
//
// Figures: acknowledged (2xx) submits per second (closed loop, 128 connections), checked
// afterwards against the tasks actually queued (every acknowledged task present); the p50/p99
// latency of submits at half that rate (open loop, h2load --rps); status reads per second, of the
// task at the head of the queue and of one behind the benchmark's whole backlog (the task's
// queue_position is counted at each read).
// Targets (docs/benchmarks.md): submit >= 25,000/s, p99 <= 2 ms at half rate, >= 10x baseline.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "bench/bench_report.h"
#include "bench/gateway_stack.h"
#include "bench/load_tools.h"
#include "common/id.h"
#include "common/log.h"

namespace {

namespace fs = std::filesystem;
using namespace stipple;
using namespace stipple::bench;
using std::chrono::duration;

constexpr const char* kBody =
    R"({"prompt":"a red circle on a blue square, centred, flat colours, high contrast",)"
    R"("negative_prompt":"blurry, noisy","model":"shapes-32","width":32,"height":32,"steps":20,)"
    R"("guidance_scale":4.0,"scheduler":"ddim","seed":42,"num_images":1,"priority":"normal",)"
    R"("metadata":{"user":"bench-user-0001","run":"gateway_submit_bench"}})";
constexpr int kClients = 128;
constexpr int kHalfRateClients = 16;

// The baseline: redis-server and uvicorn as child processes.
struct BaselineStack {
  explicit BaselineStack(const fs::path& dir) {
    fs::create_directories(dir);
    redis_port = FreePort();
    redis = ChildProcess::Start({"redis-server", "--port", std::to_string(redis_port), "--dir",
                                 dir.string(), "--save", "", "--appendonly", "no"});
    port = FreePort();
    uvicorn = ChildProcess::Start(
        {"/usr/bin/python3", "-m", "uvicorn", "--app-dir", STIPPLE_BASELINE_DIR, "app:app",
         "--workers", "2", "--host", "127.0.0.1", "--port", std::to_string(port), "--log-level",
         "warning", "--no-access-log"},
        {"BASELINE_REDIS_URL=redis://127.0.0.1:" + std::to_string(redis_port) + "/0"},
        (dir / "uvicorn.log").string());
    ready = WaitForHttp(port, "/healthz", std::chrono::seconds(60));
  }
  // Tasks waiting in Celery's queue (a Redis list).
  int64_t Queued() const {
    std::string cmd = "redis-cli -p " + std::to_string(redis_port) + " llen celery";
    FILE* p = popen(cmd.c_str(), "r");
    long long n = -1;
    if (p != nullptr) {
      if (std::fscanf(p, "%lld", &n) != 1) n = -1;
      pclose(p);
    }
    return n;
  }

  uint16_t redis_port = 0;
  uint16_t port = 0;
  ChildProcess redis;
  ChildProcess uvicorn;
  bool ready = false;
};

LoadSpec Submits(uint16_t port, const std::string& body_file) {
  LoadSpec spec;
  spec.url = "http://127.0.0.1:" + std::to_string(port) + "/v1/tasks";
  spec.body_file = body_file;
  spec.headers = {"Content-Type: application/json"};
  spec.clients = kClients;
  return spec;
}

LoadSpec Reads(uint16_t port, const std::string& id) {
  LoadSpec spec;
  spec.url = "http://127.0.0.1:" + std::to_string(port) + "/v1/tasks/" + id;
  spec.clients = kClients;
  spec.duration_s = 3;
  return spec;
}

void Explain(const char* what, const LoadResult& r) {
  std::printf("%-28s %8.0f 2xx/s  (%lld 2xx, %lld other, %lld failed or cut off in %.2f s)\n", what,
              r.ok_per_s, static_cast<long long>(r.status_2xx),
              static_cast<long long>(r.status_other), static_cast<long long>(r.failed), r.seconds);
  if (!r.ran) std::printf("h2load did not run:\n%s\n", r.output.c_str());
}

double Ms(std::chrono::nanoseconds d) { return duration<double, std::milli>(d).count(); }

}  // namespace

int main() {
  // Warnings only, as the baseline runs (uvicorn --log-level warning --no-access-log): a log
  // line per request would be measured too.
  ConfigureLogging({.level = LogLevel::kWarn});
  RaiseFileLimit();
  const fs::path dir = fs::temp_directory_path() / ("stipple-gateway-bench-" + NewId("tmp"));
  fs::create_directories(dir);
  const std::string body_file = (dir / "body.json").string();
  std::ofstream(body_file) << kBody;
  std::printf("request body: %zu bytes; load: h2load --h1, %d keep-alive connections\n",
              std::string(kBody).size(), kClients);

  BenchReport report("gateway_submit_bench");
  double stipple_submit = 0, stipple_read = 0, stipple_read_tail = 0;
  int64_t acknowledged = 0, present = 0;
  LoadResult half;
  {
    GatewayStack stipple(dir / "stipple");
    const uint16_t port = stipple.port();
    const std::string head_id = CreateTaskOver(port, kBody);  // first in the queue
    LoadResult submit = RunH2load(Submits(port, body_file));
    Explain("stipple submit", submit);
    stipple_submit = submit.ok_per_s;
    acknowledged = submit.status_2xx;
    present = stipple.Queued();  // includes the warm-up's tasks: present >= acknowledged

    LoadSpec open_loop = Submits(port, body_file);
    open_loop.clients = kHalfRateClients;
    open_loop.rps_per_client = std::max(1.0, stipple_submit / 2 / kHalfRateClients);
    open_loop.log_latencies = true;
    half = RunH2load(open_loop);
    Explain("stipple submit, half rate", half);

    LoadResult read = RunH2load(Reads(port, head_id));
    Explain("stipple status, queue head", read);
    stipple_read = read.ok_per_s;
    // A task behind everything queued: its queue_position is counted at each read.
    LoadResult tail = RunH2load(Reads(port, CreateTaskOver(port, kBody)));
    Explain("stipple status, queue tail", tail);
    stipple_read_tail = tail.ok_per_s;
  }

  double baseline_submit = 0, baseline_read = 0;
  int64_t baseline_ack = 0, baseline_present = 0;
  {
    BaselineStack baseline(dir / "baseline");
    if (!baseline.ready) {
      std::printf("the FastAPI + Celery + Redis baseline did not start (see %s)\n",
                  (dir / "baseline" / "uvicorn.log").c_str());
    } else {
      LoadResult submit = RunH2load(Submits(baseline.port, body_file));
      Explain("fastapi+celery submit", submit);
      baseline_submit = submit.ok_per_s;
      baseline_ack = submit.status_2xx;
      baseline_present = baseline.Queued();
      LoadResult read = RunH2load(Reads(baseline.port, CreateTaskOver(baseline.port, kBody)));
      Explain("fastapi+celery status", read);
      baseline_read = read.ok_per_s;
    }
  }
  fs::remove_all(dir);

  std::printf("stipple: %lld acknowledged, %lld queued afterwards (warm-up included)\n",
              static_cast<long long>(acknowledged), static_cast<long long>(present));
  std::printf("baseline: %lld acknowledged, %lld in the celery queue afterwards\n",
              static_cast<long long>(baseline_ack), static_cast<long long>(baseline_present));
  std::printf("targets: submit >= 25000/s; p99 <= 2 ms at half rate; >= 10x the baseline\n");
  report.Add("submit", stipple_submit, "tasks/s", baseline_submit);
  report.Add("submit_acknowledged_missing",
             static_cast<double>(std::max<int64_t>(0, acknowledged - present)), "tasks");
  report.Add("submit_half_rate", half.ok_per_s, "tasks/s");
  report.Add("submit_p50_at_half_rate", Ms(P50(half.latencies)), "ms");
  report.Add("submit_p99_at_half_rate", Ms(P99(half.latencies)), "ms");
  report.Add("status", stipple_read, "reads/s", baseline_read);
  report.Add("status_queue_tail", stipple_read_tail, "reads/s", baseline_read);
  report.Add("baseline_submit", baseline_submit, "tasks/s");
  report.Add("baseline_acknowledged_missing",
             static_cast<double>(std::max<int64_t>(0, baseline_ack - baseline_present)), "tasks");
  report.Print();
  return 0;
}
