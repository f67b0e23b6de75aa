// The gateway's submit and status paths under load, at queue depths 0, 10,000 and 100,000,
// side by side with the baseline a Python team would deploy for the same two endpoints: FastAPI
// on uvicorn (2 worker processes, one per core) sending the task to Celery over Redis
// (bench/fastapi_baseline/app.py). Both are driven by the same load generator (h2load over
// HTTP/1.1 keep-alive, ~300-byte JSON bodies) on loopback.
//
// stipple side: the HTTP server over the ServiceStack, the SQLite task store (default options:
// group commit, fsync), the in-memory event bus and the file result store — `stipple serve`
// without its in-process workers, so tasks stay queued and the engine takes no CPU. Neither side
// runs a worker. The service's queue bound is serve's default (--max-queue 10000) at depth 0;
// at depths 10,000 and 100,000 that default would refuse every submit, so the bound is raised to
// depth + 50,000 (still counted and enforced at each submit, as the default is).
//
// Per depth: the queue is filled to the depth (concurrent Enqueue calls on the store), then
// acknowledged (2xx) submits per second and their p50/p99 (closed loop, 128 connections, a fixed
// number of requests), checked afterwards against the tasks actually queued; the p50/p99 of
// submits at half that rate (open loop, h2load --rps); status reads per second, of the task at
// the head of the queue and of one behind the whole backlog (its queue_position and eta_s are
// computed at each read).
// Targets (docs/benchmarks.md): submit >= 10,000/s at every depth, p99 <= 5 ms at half rate,
// >= 10x baseline; status reads >= 20,000/s anywhere in a 100k queue.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

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

// Fills the stack's queue to `depth` tasks with concurrent Enqueue calls (many per commit).
double Fill(GatewayStack& stack, int64_t depth) {
  auto t0 = std::chrono::steady_clock::now();
  constexpr int kThreads = 128;
  std::atomic<int64_t> next{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      GenerationRequest r;
      r.prompt = "a red circle on a blue square";
      r.model = "shapes-32";
      r.width = r.height = 32;
      r.steps = 20;
      r.guidance_scale = 4.0;
      r.scheduler = "ddim";
      r.seed = 42;
      while (next.fetch_add(1) < depth) {
        NewTask t;
        t.id = NewId("tsk");
        t.tenant = "bench-fill";
        t.request = r;
        t.request_fingerprint = "fill";
        if (!stack.store->Enqueue(t).ok()) std::abort();
      }
    });
  }
  for (auto& t : threads) t.join();
  return duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct DepthFigures {
  int64_t depth = 0;
  int64_t max_queue = 0;
  double fill_s = 0;
  LoadResult submit, half, read_head, read_tail;
  int64_t queued_after = 0, queued_before = 0;
};

constexpr int64_t kSubmits = 4000;  // closed-loop submits per depth
constexpr int64_t kMaxHalfRateSubmits = 3000;

DepthFigures MeasureAtDepth(const fs::path& dir, const std::string& body_file, int64_t depth) {
  DepthFigures f;
  f.depth = depth;
  const int64_t serve_default = ServiceOptions{}.max_queue;
  f.max_queue = depth == 0 ? serve_default : depth + 50'000;
  GatewayStack stipple(dir / ("stipple-" + std::to_string(depth)), http::ApiServerOptions{},
                       f.max_queue);
  const uint16_t port = stipple.port();
  const std::string head_id = CreateTaskOver(port, kBody);  // first in the queue
  f.fill_s = Fill(stipple, depth);
  f.queued_before = stipple.Queued();
  std::printf("-- depth %lld (filled in %.1f s), max_queue %lld%s\n",
              static_cast<long long>(f.queued_before), f.fill_s,
              static_cast<long long>(f.max_queue),
              depth == 0 ? " (serve's default)"
                         : " (serve's default 10000 would refuse every submit at this depth)");

  LoadSpec closed = Submits(port, body_file);
  closed.requests = kSubmits;
  closed.log_latencies = true;
  f.submit = RunH2load(closed);
  Explain("stipple submit", f.submit);
  f.queued_after = stipple.Queued();

  LoadSpec open_loop = Submits(port, body_file);
  open_loop.clients = kHalfRateClients;
  double half_rate = std::max(1.0, f.submit.ok_per_s / 2);
  open_loop.rps_per_client = std::max(1.0, half_rate / kHalfRateClients);
  open_loop.requests = std::clamp<int64_t>(static_cast<int64_t>(half_rate * 2), kHalfRateClients,
                                           kMaxHalfRateSubmits);
  open_loop.log_latencies = true;
  f.half = RunH2load(open_loop);
  Explain("stipple submit, half rate", f.half);

  LoadSpec head = Reads(port, head_id);
  f.read_head = RunH2load(head);
  Explain("stipple status, queue head", f.read_head);
  // A task behind everything queued: its queue_position is computed at each read.
  f.read_tail = RunH2load(Reads(port, CreateTaskOver(port, kBody)));
  Explain("stipple status, queue tail", f.read_tail);
  return f;
}

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
  std::vector<DepthFigures> depths;
  for (int64_t depth : {int64_t{0}, int64_t{10'000}, int64_t{100'000}}) {
    depths.push_back(MeasureAtDepth(dir, body_file, depth));
  }

  double baseline_submit = 0, baseline_read = 0;
  int64_t baseline_ack = 0, baseline_present = 0;
  {
    BaselineStack baseline(dir / "baseline");
    if (!baseline.ready) {
      std::printf("the FastAPI + Celery + Redis baseline did not start (see %s)\n",
                  (dir / "baseline" / "uvicorn.log").c_str());
    } else {
      LoadSpec submits = Submits(baseline.port, body_file);
      submits.requests = kSubmits;
      LoadResult submit = RunH2load(submits);
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

  std::printf("baseline: %lld acknowledged, %lld in the celery queue afterwards\n",
              static_cast<long long>(baseline_ack), static_cast<long long>(baseline_present));
  std::printf(
      "targets: submit >= 10000/s at every depth; p99 <= 5 ms at half rate; >= 10x the "
      "baseline; status >= 20000/s anywhere in a 100k queue\n");
  for (const DepthFigures& f : depths) {
    const std::string d = "_depth_" + std::to_string(f.depth);
    int64_t added = f.queued_after - f.queued_before;
    report.Add("submit" + d, f.submit.ok_per_s, "tasks/s", baseline_submit);
    report.Add("submit_p50" + d, Ms(P50(f.submit.latencies)), "ms");
    report.Add("submit_p99" + d, Ms(P99(f.submit.latencies)), "ms");
    report.Add("submit_acknowledged_missing" + d,
               static_cast<double>(std::max<int64_t>(0, f.submit.status_2xx - added)), "tasks");
    report.Add("submit_p50_at_half_rate" + d, Ms(P50(f.half.latencies)), "ms");
    report.Add("submit_p99_at_half_rate" + d, Ms(P99(f.half.latencies)), "ms");
    report.Add("status_queue_head" + d, f.read_head.ok_per_s, "reads/s", baseline_read);
    report.Add("status_queue_tail" + d, f.read_tail.ok_per_s, "reads/s", baseline_read);
  }
  report.Add("baseline_submit", baseline_submit, "tasks/s");
  report.Add("baseline_acknowledged_missing",
             static_cast<double>(std::max<int64_t>(0, baseline_ack - baseline_present)), "tasks");
  report.Print();
  return 0;
}
