#include "store/redis/testing/redis_test_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

#include "common/id.h"
#include "store/redis/redis_client.h"

namespace stipple::redis {
namespace {

// A port that was free a moment ago (the kernel's pick for an ephemeral bind).
Result<int> FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return UnavailableError("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return UnavailableError("cannot find a free port");
  }
  ::close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

}  // namespace

RedisTestServer::RedisTestServer(RedisTestServerOptions options, std::string dir, int port)
    : options_(std::move(options)), dir_(std::move(dir)), port_(port) {}

Result<std::unique_ptr<RedisTestServer>> RedisTestServer::Start(RedisTestServerOptions options) {
  const char* tmp = std::getenv("TMPDIR");
  std::filesystem::path dir =
      std::filesystem::path(tmp && *tmp ? tmp : "/tmp") / ("stipple-redis-" + NewId("tmp"));
  std::filesystem::create_directories(dir);
  Status last;
  for (int attempt = 0; attempt < 5; ++attempt) {  // another process may take the port first
    ASSIGN_OR_RETURN(int port, FreePort());
    auto server = std::unique_ptr<RedisTestServer>(new RedisTestServer(options, dir, port));
    last = server->Launch();
    if (last.ok()) return server;
  }
  std::filesystem::remove_all(dir);
  return last;
}

RedisTestServer::~RedisTestServer() {
  if (running()) (void)Stop(/*kill=*/true);
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string RedisTestServer::url() const {
  return "redis://127.0.0.1:" + std::to_string(port_) + "/0";
}

Status RedisTestServer::Launch() {
  std::vector<std::string> args = {options_.binary,
                                   "--port",
                                   std::to_string(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--dir",
                                   dir_,
                                   "--appendonly",
                                   options_.appendonly ? "yes" : "no",
                                   "--appendfsync",
                                   options_.appendfsync,
                                   "--save",
                                   "",
                                   "--daemonize",
                                   "no",
                                   "--logfile",
                                   dir_ + "/redis.log"};
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return UnavailableError("fork failed");
  if (pid == 0) {
    // Dies with the thread that started it: a test killed by a timeout leaves no redis-server.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  pid_ = pid;
  RedisClient client({.url = {.host = "127.0.0.1", .port = port_},
                      .connect_timeout = Millis(200),
                      .command_timeout = Millis(1000)});
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return UnavailableError("redis-server exited at start (port " + std::to_string(port_) +
                              "; see " + dir_ + "/redis.log)");
    }
    if (client.Check().ok()) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  (void)Stop(/*kill=*/true);
  return UnavailableError("redis-server did not answer within 20 s");
}

Status RedisTestServer::Stop(bool kill) {
  if (!running()) return Status::Ok();
  ::kill(pid_, kill ? SIGKILL : SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return Status::Ok();
}

Status RedisTestServer::Restart() {
  if (running()) return FailedPreconditionError("redis-server is still running");
  return Launch();
}

}  // namespace stipple::redis
