// What the gateway benchmarks drive the server with: h2load (nghttp2-client, over HTTP/1.1
// keep-alive) run as a child process and its summary and per-request log read back, child
// processes (redis-server, uvicorn), the process's resident memory, and many raw Server-Sent
// Events readers on one poll loop. For benchmarks only.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace stipple::bench {

struct LoadSpec {
  std::string url;                   // http://127.0.0.1:PORT/path
  std::string body_file;             // non-empty: POST this file's bytes
  std::vector<std::string> headers;  // "Name: value"
  int clients = 16;                  // connections, each keep-alive, one request at a time
  int threads = 1;
  int64_t requests = 0;   // > 0: exactly this many requests (else duration_s)
  double duration_s = 5;  // timed run, after warm_up_s
  double warm_up_s = 1;
  double rps_per_client = 0;   // > 0: open-loop, each client starts this many per second
  bool log_latencies = false;  // per-request latencies (h2load --log-file)
};

struct LoadResult {
  bool ran = false;  // h2load started and printed its summary
  double seconds = 0;
  int64_t done = 0;
  int64_t status_2xx = 0;
  int64_t status_other = 0;                         // 3xx/4xx/5xx
  int64_t failed = 0;                               // errored, timed out, not done
  double ok_per_s = 0;                              // 2xx answers per second of the timed run
  std::vector<std::chrono::nanoseconds> latencies;  // with log_latencies
  std::string output;                               // h2load's stdout and stderr
};

// Runs h2load to the end and reads its figures.
LoadResult RunH2load(const LoadSpec& spec);

// The h2load command line for `spec` (log_file: "" for none).
std::vector<std::string> H2loadArgs(const LoadSpec& spec, const std::string& log_file);

// A child process; killed (SIGTERM, then SIGKILL) and reaped by the destructor.
class ChildProcess {
 public:
  ChildProcess() = default;
  // argv[0] is looked up on PATH; `env` entries ("NAME=value") are added to the environment;
  // stdout and stderr go to `log_path` ("" → /dev/null).
  static ChildProcess Start(const std::vector<std::string>& argv,
                            const std::vector<std::string>& env = {},
                            const std::string& log_path = "");
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ~ChildProcess();

  bool running() const { return pid_ > 0; }
  // Waits for the exit; its status (128 + signal when killed), or nullopt after `timeout`.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  void Stop();

 private:
  pid_t pid_ = -1;
};

// Resident memory of this process, in bytes (/proc/self/statm).
int64_t ResidentBytes();
// A TCP port that was free on 127.0.0.1 a moment ago.
uint16_t FreePort();
// Whether GET http://127.0.0.1:port/path answers 2xx within `timeout` (retrying).
bool WaitForHttp(uint16_t port, const std::string& path, std::chrono::milliseconds timeout);
// Raises the open-file limit to its hard limit (10,000 connections need it).
void RaiseFileLimit();

// Many Server-Sent Events streams read on one thread: each counts the frames it received (the
// blank line that ends a frame).
class SseReaders {
 public:
  // Opens `count` connections to 127.0.0.1:port, each sending GET `target` with `headers`
  // ("Name: value").
  SseReaders(uint16_t port, const std::string& target, int count,
             const std::vector<std::string>& headers = {});
  ~SseReaders();
  // Reads until every stream has at least `frames` frames, or `timeout`; false on timeout.
  bool WaitAll(int64_t frames, std::chrono::milliseconds timeout);
  int opened() const { return static_cast<int>(fds_.size()); }

 private:
  struct Stream {
    int64_t frames = 0;
    char last = 0;  // the last byte read, for a blank line split over two reads
  };
  std::vector<int> fds_;
  std::vector<size_t> index_;  // fd → its position in fds_
  std::vector<Stream> streams_;
};

}  // namespace stipple::bench
