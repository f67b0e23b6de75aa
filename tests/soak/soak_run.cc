#include "soak_run.h"

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "bench/bench_report.h"
#include "client/client.h"
#include "common/thread_annotations.h"
#include "loadgen/load_report.h"
#include "process.h"

namespace stipple::soak {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

Status WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  out.close();
  if (!out) return UnavailableError(path + ": cannot write");
  return Status::Ok();
}

std::string Join(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) out += (out.empty() ? "" : " ") + a;
  return out;
}

// Samples the server every `interval` from `start` until stopped.
class Sampler {
 public:
  Sampler(pid_t serve, client::Client& client, Clock::time_point start,
          std::chrono::nanoseconds interval, bool progress)
      : serve_(serve), client_(client), start_(start), interval_(interval), progress_(progress) {
    thread_ = std::jthread([this](std::stop_token stop) { Loop(stop); });
  }

  std::vector<Sample> Stop() {
    thread_.request_stop();
    thread_.join();
    MutexLock lock(mu_);
    return std::move(samples_);
  }

 private:
  void Loop(const std::stop_token& stop) {
    for (int64_t k = 1; !stop.stop_requested(); ++k) {
      const Clock::time_point due = start_ + k * interval_;
      std::this_thread::sleep_until(due);
      Sample s;
      s.at_s = std::chrono::duration<double>(Clock::now() - start_).count();
      Result<TreeFigures> tree = ReadTree(serve_);
      if (!tree.ok()) continue;  // serve is gone: nothing to sample
      s.server = *tree;
      Result<client::QueueFigures> q = client_.Queue(stop);
      if (!q.ok() && stop.stop_requested()) break;  // cut by Stop(): not a sample
      if (q.ok()) {
        s.queue_read = true;
        s.queued = q->queued_high + q->queued_normal + q->queued_low;
        s.running = q->running;
      }
      if (progress_ && int64_t(s.at_s) / 60 > last_progress_min_) {
        last_progress_min_ = int64_t(s.at_s) / 60;
        std::fprintf(stderr,
                     "stipple_soak: %5.0f s  processes %lld  rss %.1f MiB  fds %lld  threads %lld  "
                     "queued %lld\n",
                     s.at_s, static_cast<long long>(s.server.processes),
                     double(s.server.total.rss_bytes) / (1024.0 * 1024.0),
                     static_cast<long long>(s.server.total.fds),
                     static_cast<long long>(s.server.total.threads),
                     static_cast<long long>(s.queued));
      }
      MutexLock lock(mu_);
      samples_.push_back(s);
    }
  }

  const pid_t serve_;
  client::Client& client_;
  const Clock::time_point start_;
  const std::chrono::nanoseconds interval_;
  const bool progress_;
  int64_t last_progress_min_ = 0;
  Mutex mu_;
  std::vector<Sample> samples_ GUARDED_BY(mu_);
  std::jthread thread_;
};

Status CheckOptions(const SoakOptions& o) {
  if (o.binary.empty()) return InvalidArgumentError("--binary is required");
  if (o.out_dir.empty()) return InvalidArgumentError("--out is required");
  if (o.worker_processes < 0 || o.worker_processes > 64) {
    return InvalidArgumentError("--worker-processes must be 0..64");
  }
  if (o.interval < std::chrono::milliseconds(100)) {
    return InvalidArgumentError("--interval-ms must be at least 100");
  }
  if (!(o.p99_window_s > 0) || !(o.growth_window_s > 0)) {
    return InvalidArgumentError("--p99-window-s and --growth-window-s must be > 0");
  }
  return Status::Ok();
}

}  // namespace

Result<SoakResult> RunSoak(const SoakOptions& options) {
  RETURN_IF_ERROR(CheckOptions(options));
  loadgen::LoadOptions load;
  load.rate = options.rate;
  load.duration = options.duration;
  load.drain = options.drain;
  load.queue_sample = options.interval;
  ASSIGN_OR_RETURN(load.mix, loadgen::ParseMix(options.mix));
  RETURN_IF_ERROR(loadgen::CheckLoadOptions(load));
  std::error_code ec;
  fs::create_directories(options.out_dir, ec);
  if (ec) return InvalidArgumentError("--out " + options.out_dir + ": " + ec.message());

  const std::string dir = testing::TempDir("stipple-soak");
  SoakResult result;
  result.serve_argv = {options.binary, "serve",      "--listen",
                       "127.0.0.1:0",  "--data-dir", dir + "/data",
                       "--model",      "null",       "--webhook-allow-private"};
  if (!options.model_dir.empty()) {
    result.serve_argv.insert(result.serve_argv.end(), {"--model-dir", options.model_dir});
  }
  if (options.worker_processes > 0) {
    result.serve_argv.insert(result.serve_argv.end(),
                             {"--worker-processes", std::to_string(options.worker_processes)});
  }
  auto cleanup = [&dir] {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  };
  auto serve = std::make_unique<testing::LoggedProcess>(result.serve_argv, dir + "/serve.log");
  if (!serve->WaitForLog("serving http://")) {
    const std::string log = serve->Log();
    serve.reset();
    cleanup();
    return UnavailableError("stipple serve did not start: " + log);
  }
  const std::string log = serve->Log();
  const size_t at = log.find("http://127.0.0.1:");
  load.server_url = "http://127.0.0.1:" + std::to_string(std::atoi(log.c_str() + at + 17));

  client::ClientOptions sampling;
  sampling.server_url = load.server_url;
  sampling.max_attempts = 1;
  sampling.request_timeout = std::chrono::seconds(5);
  sampling.user_agent = "stipple-soak";
  Result<std::unique_ptr<client::Client>> sampler_client = client::Client::Create(sampling);
  if (!sampler_client.ok()) {
    serve.reset();
    cleanup();
    return sampler_client.status();
  }
  // Ready: the queue answers and every worker is online (worker processes load their model after
  // serve prints its address), so that the load does not start with a backlog.
  const int64_t workers = std::max(1, options.worker_processes);
  const Clock::time_point ready_by = Clock::now() + std::chrono::seconds(120);
  for (;;) {
    Result<client::QueueFigures> q = (*sampler_client)->Queue();
    if (q.ok() && q->workers_online >= workers) break;
    if (Clock::now() > ready_by) {
      const std::string log = serve->Log();
      serve.reset();
      cleanup();
      return UnavailableError("stipple serve's " + std::to_string(workers) +
                              " workers were not online within 120 s: " + log);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }

  const Clock::time_point start = Clock::now();
  Sampler sampler(serve->pid(), **sampler_client, start, options.interval, options.progress);
  Result<loadgen::LoadRun> run = loadgen::RunLoad(load);
  std::vector<Sample> samples = sampler.Stop();
  serve->Stop(SIGTERM);
  serve.reset();
  cleanup();
  if (!run.ok()) return run.status();

  result.run = std::move(*run);
  result.rows = BuildRows(samples, result.run, options.p99_window_s);
  result.growth_window_s = std::min(options.growth_window_s,
                                    std::chrono::duration<double>(options.duration).count() / 6);
  result.growth = Growths(result.rows, result.growth_window_s);

  const bench::BenchReport report = loadgen::BuildReport(result.run);
  char head[512];
  std::snprintf(head, sizeof head,
                "stipple soak: %g submits/s for %g s, mix %s, sampled every %g s\nserve: %s\n",
                options.rate, std::chrono::duration<double>(options.duration).count(),
                options.mix.c_str(), std::chrono::duration<double>(options.interval).count(),
                Join(result.serve_argv).c_str());
  result.summary = head + bench::BenchReport::MachineLine(bench::DescribeMachine()) + "\n" +
                   report.Table() + "\n" + FormatGrowth(result.growth, result.growth_window_s);
  for (const auto& [error, count] : loadgen::ErrorCounts(result.run)) {
    result.summary += "error x" + std::to_string(count) + ": " + error + "\n";
  }

  result.csv_path = options.out_dir + "/soak.csv";
  result.png_path = options.out_dir + "/soak.png";
  result.summary_path = options.out_dir + "/soak.txt";
  RETURN_IF_ERROR(WriteFile(result.csv_path, FormatCsv(result.rows)));
  char title[160];
  std::snprintf(title, sizeof title, "stipple serve --model null, %g/s mixed load for %g min",
                options.rate, std::chrono::duration<double>(options.duration).count() / 60);
  ASSIGN_OR_RETURN(std::string png,
                   loadgen::RenderChart(BuildSoakChart(result.rows, title, options.p99_window_s)));
  RETURN_IF_ERROR(WriteFile(result.png_path, png));
  RETURN_IF_ERROR(WriteFile(result.summary_path, result.summary));
  return result;
}

}  // namespace stipple::soak
