#include "bench/load_tools.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace stipple::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

int Connect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool SendAll(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// The number before `word` on the line starting with `prefix` ("requests: 10 total, ...").
int64_t Field(const std::string& output, const std::string& prefix, const std::string& word) {
  size_t line = output.find(prefix);
  if (line == std::string::npos) return 0;
  size_t end = output.find('\n', line);
  std::string text = output.substr(line, end - line);
  size_t at = text.find(" " + word);
  if (at == std::string::npos) return 0;
  size_t start = text.rfind(' ', at - 1);
  return std::atoll(text.c_str() + (start == std::string::npos ? 0 : start + 1));
}

}  // namespace

std::vector<std::string> H2loadArgs(const LoadSpec& spec, const std::string& log_file) {
  std::vector<std::string> args = {
      "h2load", "--h1", "-c", std::to_string(spec.clients), "-t", std::to_string(spec.threads),
      "-m",     "1"};
  if (spec.requests > 0) {
    args.insert(args.end(), {"-n", std::to_string(spec.requests)});
  } else {
    auto ms = [](double s) { return std::to_string(std::llround(s * 1000)) + "ms"; };
    args.insert(args.end(), {"-D", ms(spec.duration_s), "--warm-up-time", ms(spec.warm_up_s)});
  }
  if (!spec.body_file.empty()) args.insert(args.end(), {"-d", spec.body_file});
  for (const std::string& h : spec.headers) args.insert(args.end(), {"-H", h});
  if (spec.rps_per_client > 0) args.push_back("--rps=" + std::to_string(spec.rps_per_client));
  if (!log_file.empty()) args.push_back("--log-file=" + log_file);
  args.push_back(spec.url);
  return args;
}

LoadResult RunH2load(const LoadSpec& spec) {
  LoadResult result;
  char dir_template[] = "/tmp/stipple-h2load-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) return result;
  const std::string dir = dir_template;
  const std::string log_file = spec.log_latencies ? dir + "/requests.log" : "";
  const std::string out_file = dir + "/out.txt";
  ChildProcess h2load = ChildProcess::Start(H2loadArgs(spec, log_file), {}, out_file);
  h2load.Wait(std::chrono::hours(1));
  std::ifstream out(out_file);
  std::stringstream text;
  text << out.rdbuf();
  result.output = text.str();
  size_t finished = result.output.find("finished in ");
  result.ran = finished != std::string::npos;
  if (result.ran) {
    // "finished in 5.00s, ..." or "finished in 812.34ms, ...".
    const char* number = result.output.c_str() + finished + 12;
    char* unit = nullptr;
    double value = std::strtod(number, &unit);
    result.seconds = std::strncmp(unit, "ms", 2) == 0   ? value / 1e3
                     : std::strncmp(unit, "us", 2) == 0 ? value / 1e6
                                                        : value;
  }
  result.done = Field(result.output, "requests:", "done");
  result.status_2xx = Field(result.output, "status codes:", "2xx");
  result.status_other = Field(result.output, "status codes:", "3xx") +
                        Field(result.output, "status codes:", "4xx") +
                        Field(result.output, "status codes:", "5xx");
  result.failed = Field(result.output, "requests:", "errored") +
                  Field(result.output, "requests:", "timeout") +
                  (Field(result.output, "requests:", "started") - result.done);
  if (result.seconds > 0) result.ok_per_s = static_cast<double>(result.status_2xx) / result.seconds;
  if (!log_file.empty()) {
    std::ifstream log(log_file);
    long long start_us = 0, status = 0, micros = 0;
    while (log >> start_us >> status >> micros) {
      result.latencies.push_back(std::chrono::microseconds(micros));
    }
  }
  std::remove(out_file.c_str());
  if (!log_file.empty()) std::remove(log_file.c_str());
  rmdir(dir.c_str());
  return result;
}

ChildProcess ChildProcess::Start(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& env, const std::string& log_path) {
  ChildProcess child;
  child.pid_ = fork();
  if (child.pid_ == 0) {
    setpgid(0, 0);
    int out =
        open(log_path.empty() ? "/dev/null" : log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out, 1);
    dup2(out, 2);
    for (const std::string& e : env) putenv(strdup(e.c_str()));
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(strdup(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept : pid_(other.pid_) { other.pid_ = -1; }

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    Stop();
    pid_ = other.pid_;
    other.pid_ = -1;
  }
  return *this;
}

ChildProcess::~ChildProcess() { Stop(); }

std::optional<int> ChildProcess::Wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  const auto deadline = SteadyClock::now() + timeout;
  while (true) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (SteadyClock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void ChildProcess::Stop() {
  if (pid_ <= 0) return;
  kill(-pid_, SIGTERM);  // its process group: uvicorn's workers too
  if (!Wait(std::chrono::seconds(10))) {
    kill(-pid_, SIGKILL);
    Wait(std::chrono::seconds(10));
  }
}

int64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

uint16_t FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

bool WaitForHttp(uint16_t port, const std::string& path, std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  while (SteadyClock::now() < deadline) {
    int fd = Connect(port);
    if (fd >= 0) {
      std::string answer(64, '\0');
      bool ok = SendAll(fd, "GET " + path + " HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n");
      ssize_t n = ok ? recv(fd, answer.data(), answer.size(), 0) : -1;
      close(fd);
      if (n > 12 && answer.compare(0, 10, "HTTP/1.1 2") == 0) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

void RaiseFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

SseReaders::SseReaders(uint16_t port, const std::string& target, int count,
                       const std::vector<std::string>& headers) {
  std::string request = "GET " + target + " HTTP/1.1\r\nHost: bench\r\n";
  for (const std::string& h : headers) request += h + "\r\n";
  request += "\r\n";
  for (int i = 0; i < count; ++i) {
    int fd = Connect(port);
    if (fd < 0 || !SendAll(fd, request)) {
      if (fd >= 0) close(fd);
      break;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (static_cast<size_t>(fd) >= index_.size()) index_.resize(fd + 1);
    index_[fd] = fds_.size();
    fds_.push_back(fd);
  }
  streams_.resize(fds_.size());
}

SseReaders::~SseReaders() {
  for (int fd : fds_) close(fd);
}

bool SseReaders::WaitAll(int64_t frames, std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  std::vector<pollfd> polls;
  char buf[16384];
  while (true) {
    polls.clear();
    for (size_t i = 0; i < fds_.size(); ++i) {
      if (streams_[i].frames < frames) polls.push_back({fds_[i], POLLIN, 0});
    }
    if (polls.empty()) return true;
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) return false;
    if (poll(polls.data(), polls.size(), static_cast<int>(left.count())) <= 0) continue;
    for (const pollfd& p : polls) {
      if ((p.revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      Stream& s = streams_[index_[p.fd]];
      ssize_t n;
      while ((n = recv(p.fd, buf, sizeof buf, 0)) > 0) {
        for (ssize_t k = 0; k < n; ++k) {
          if (buf[k] == '\n' && s.last == '\n') ++s.frames;
          s.last = buf[k];
        }
      }
      if (n == 0) s.frames = frames;  // closed: nothing more will come
    }
  }
}

}  // namespace stipple::bench
