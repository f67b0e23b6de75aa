// HttpServer: the acceptor, the I/O threads and graceful stop.
#include <fcntl.h>
#include <sys/resource.h>

#include <thread>

#include "common/log.h"
#include "http/server_internal.h"

namespace stipple::http {

namespace {

void SetCloseOnExec(int fd) {
  const int flags = ::fcntl(fd, F_GETFD);
  if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

constexpr std::chrono::milliseconds kAcceptBackoffMin{10};
constexpr std::chrono::milliseconds kAcceptBackoffMax{1000};
constexpr std::chrono::seconds kAcceptLogEvery{10};
// Refusals being answered at once (each lingers up to a second); past it, a plain close.
constexpr int kMaxRefusing = 64;

}  // namespace

size_t DefaultMaxConnections() {
  rlimit limit{};
  rlim_t soft = 1024;
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    soft = limit.rlim_cur == RLIM_INFINITY ? rlim_t{1} << 20 : limit.rlim_cur;
  }
  const rlim_t reserve = soft / 8 + 64;
  return soft > reserve + 16 ? static_cast<size_t>(soft - reserve) : 16;
}

void ServerCore::Register(const std::shared_ptr<Connection>& connection) {
  MutexLock lock(mu);
  connections[connection.get()] = connection;
  handler.transport_metrics().connections = static_cast<int64_t>(connections.size());
}

void ServerCore::Unregister(const Connection* connection) {
  MutexLock lock(mu);
  if (connections.erase(connection) > 0) {
    handler.transport_metrics().connections = static_cast<int64_t>(connections.size());
  }
}

std::vector<std::shared_ptr<Connection>> ServerCore::LiveConnections() {
  std::vector<std::shared_ptr<Connection>> live;
  MutexLock lock(mu);
  for (auto& [key, weak] : connections) {
    if (auto s = weak.lock()) live.push_back(std::move(s));
  }
  return live;  // released outside the lock: a last reference runs ~Connection, which locks mu
}

size_t ServerCore::ConnectionCount() {
  MutexLock lock(mu);
  return connections.size();
}

struct HttpServer::Impl {
  Impl(RequestHandler& handler, HttpServerOptions options)
      : core(handler, std::move(options)),
        acceptor(net::make_strand(core.ioc)),
        backoff_timer(acceptor.get_executor()) {}

  // On the acceptor's strand, like every member below it.
  void Accept() {
    acceptor.async_accept(net::make_strand(core.ioc),
                          [this](beast::error_code ec, tcp::socket socket) {
                            if (ec) return OnAcceptError(ec);
                            backoff = std::chrono::milliseconds(0);
                            SetCloseOnExec(socket.native_handle());
                            if (core.stopping) return;
                            auto connection = std::make_shared<Connection>(std::move(socket), core);
                            if (core.ConnectionCount() >= max_connections) {
                              Refuse(connection);
                            } else {
                              core.Register(connection);
                              connection->Run();
                            }
                            Accept();
                          });
  }

  // Past the cap: a 503 while descriptors remain to answer it, else a plain close.
  void Refuse(const std::shared_ptr<Connection>& connection) {
    ++core.handler.transport_metrics().connections_refused;
    if (core.refusing >= kMaxRefusing) return;  // a flood: closed unanswered (destroyed here)
    connection->Refuse(503, "unavailable", "temporarily unavailable",
                       "the server is at its limit of " + std::to_string(max_connections) +
                           " connections; retry later",
                       core.options.retry_after_s);
  }

  // The descriptor limit (and its kin) do not clear by retrying at once: back off.
  void OnAcceptError(beast::error_code ec) {
    if (core.stopping || ec == net::error::operation_aborted) return;
    ++core.handler.transport_metrics().accept_errors;
    ++failures_unlogged;
    backoff = std::clamp(backoff * 2, kAcceptBackoffMin, kAcceptBackoffMax);
    const auto now = std::chrono::steady_clock::now();
    if (now - last_logged >= kAcceptLogEvery) {
      LogWarn("accept failed; backing off",
              {{"error", ec.message()},
               {"failures", std::to_string(failures_unlogged)},
               {"backoff_ms", std::to_string(backoff.count())},
               {"connections", std::to_string(core.ConnectionCount())}});
      last_logged = now;
      failures_unlogged = 0;
    }
    backoff_timer.expires_after(backoff);
    backoff_timer.async_wait([this](beast::error_code e) {
      if (!e && !core.stopping) Accept();
    });
  }

  ServerCore core;
  tcp::acceptor acceptor;
  net::steady_timer backoff_timer;
  std::chrono::milliseconds backoff{0};
  std::chrono::steady_clock::time_point last_logged{};
  int64_t failures_unlogged = 0;
  size_t max_connections = 0;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  uint16_t port = 0;
  bool started = false;
  bool stopped = false;
};

HttpServer::HttpServer(RequestHandler& handler, HttpServerOptions options)
    : impl_(std::make_unique<Impl>(handler, std::move(options))) {}

HttpServer::~HttpServer() { Stop(); }

uint16_t HttpServer::port() const { return impl_->port; }

Status HttpServer::Start() {
  Impl& d = *impl_;
  if (d.started) return FailedPreconditionError("the server was already started");
  const HttpServerOptions& o = d.core.options;
  std::string host = o.host == "localhost" ? "127.0.0.1" : o.host;
  beast::error_code ec;
  net::ip::address address = net::ip::make_address(host, ec);
  if (ec) return InvalidArgumentError("listen address is not an IP address: " + o.host);
  tcp::endpoint endpoint(address, o.port);
  auto fail = [&](const char* what) {
    return UnavailableError(std::string(what) + " " + host + ":" + std::to_string(o.port) + ": " +
                            ec.message());
  };
  if (d.acceptor.open(endpoint.protocol(), ec); ec) return fail("cannot open");
  SetCloseOnExec(d.acceptor.native_handle());
  if (d.acceptor.set_option(net::socket_base::reuse_address(true), ec); ec)
    return fail("cannot set up");
  if (d.acceptor.bind(endpoint, ec); ec) return fail("cannot bind");
  if (d.acceptor.listen(net::socket_base::max_listen_connections, ec); ec)
    return fail("cannot listen on");
  d.port = d.acceptor.local_endpoint(ec).port();
  d.max_connections = o.max_connections > 0 ? o.max_connections : DefaultMaxConnections();
  d.started = true;
  d.work.emplace(d.core.ioc.get_executor());
  d.Accept();
  int threads = o.io_threads > 0
                    ? o.io_threads
                    : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  for (int i = 0; i < threads; ++i) d.threads.emplace_back([&d] { d.core.ioc.run(); });
  LogInfo("http server listening", {{"address", host + ":" + std::to_string(d.port)},
                                    {"io_threads", std::to_string(threads)},
                                    {"max_connections", std::to_string(d.max_connections)}});
  return Status::Ok();
}

void HttpServer::Stop() {
  Impl& d = *impl_;
  if (!d.started || d.stopped) return;
  d.stopped = true;
  d.core.handler.SetDraining();
  d.core.stopping = true;
  net::post(d.acceptor.get_executor(), [&d] {
    beast::error_code ignored;
    d.acceptor.close(ignored);
    d.backoff_timer.cancel();
  });
  for (const std::shared_ptr<Connection>& connection : d.core.LiveConnections()) {
    net::post(connection->executor(), [connection] { connection->Shutdown(); });
  }
  auto deadline = std::chrono::steady_clock::now() + d.core.options.stop_grace;
  while (d.core.ConnectionCount() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // What the handler queued answers (on strands that still run), then the I/O
  // threads stop.
  d.core.handler.FinishPending();
  d.work.reset();
  d.core.ioc.stop();
  for (std::thread& t : d.threads) t.join();
  d.threads.clear();
  LogInfo("http server stopped");
}

}  // namespace stipple::http
