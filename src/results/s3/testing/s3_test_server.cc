#include "results/s3/testing/s3_test_server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "common/id.h"

namespace stipple::s3 {

S3TestServer::S3TestServer(S3TestServerOptions options, std::string dir)
    : options_(std::move(options)), dir_(std::move(dir)) {}

Result<std::unique_ptr<S3TestServer>> S3TestServer::Start(S3TestServerOptions options) {
  const char* tmp = std::getenv("TMPDIR");
  std::filesystem::path dir =
      std::filesystem::path(tmp && *tmp ? tmp : "/tmp") / ("stipple-s3-" + NewId("tmp"));
  std::filesystem::create_directories(dir / "data");
  auto server = std::unique_ptr<S3TestServer>(new S3TestServer(std::move(options), dir));
  if (Status st = server->Launch(); !st.ok()) return st;
  return server;
}

S3TestServer::~S3TestServer() {
  if (running()) (void)Stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string S3TestServer::endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

Status S3TestServer::Launch() {
  // s3rver encrypts its continuation tokens with DES, which OpenSSL 3 keeps in its legacy
  // provider: without it every listing past the first page is a 500.
  std::vector<std::string> args = {
      STIPPLE_NODE, "--openssl-legacy-provider", STIPPLE_S3RVER_JS, "--dir", dir_ + "/data",
      "--port",     std::to_string(port_)};
  for (const std::string& bucket : options_.buckets) {
    args.emplace_back("--bucket");
    args.push_back(bucket);
  }
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return UnavailableError("pipe failed");
  const std::string log = dir_ + "/s3rver.log";
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out[0]);
    ::close(out[1]);
    return UnavailableError("fork failed");
  }
  if (pid == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    int err = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (err >= 0) ::dup2(err, STDERR_FILENO);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  pid_ = pid;
  // Wait for "listening PORT\n" (node takes a second or more to start on a loaded machine).
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (line.find('\n') == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{.fd = out[0], .events = POLLIN, .revents = 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[256];
    const ssize_t n = ::read(out[0], buf, sizeof(buf));
    if (n <= 0) break;
    line.append(buf, static_cast<size_t>(n));
  }
  ::close(out[0]);
  if (line.rfind("listening ", 0) != 0 || line.find('\n') == std::string::npos) {
    (void)Stop();
    return UnavailableError("s3rver did not start (see " + log +
                            "; run scripts/install-deps.sh "
                            "for tests/node_modules)");
  }
  port_ = std::atoi(line.c_str() + 10);
  return Status::Ok();
}

Status S3TestServer::Stop() {
  if (!running()) return Status::Ok();
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return Status::Ok();
}

Status S3TestServer::Restart() {
  if (running()) return FailedPreconditionError("s3rver is still running");
  return Launch();
}

}  // namespace stipple::s3
