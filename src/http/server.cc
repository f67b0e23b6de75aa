// HttpServer: the acceptor, the I/O threads and graceful stop.
#include <thread>

#include "common/log.h"
#include "http/server_internal.h"

namespace stipple::http {

void ServerCore::Register(const std::shared_ptr<Connection>& connection) {
  std::lock_guard lock(mu);
  connections[connection.get()] = connection;
}

void ServerCore::Unregister(const Connection* connection) {
  std::lock_guard lock(mu);
  connections.erase(connection);
}

std::vector<std::shared_ptr<Connection>> ServerCore::LiveConnections() {
  std::vector<std::shared_ptr<Connection>> live;
  std::lock_guard lock(mu);
  for (auto& [key, weak] : connections) {
    if (auto s = weak.lock()) live.push_back(std::move(s));
  }
  return live;  // released outside the lock: a last reference runs ~Connection, which locks mu
}

size_t ServerCore::ConnectionCount() {
  std::lock_guard lock(mu);
  return connections.size();
}

struct HttpServer::Impl {
  Impl(TaskService& service, ModelCatalog models, HttpServerOptions options)
      : core(service, std::move(models), std::move(options)),
        acceptor(net::make_strand(core.ioc)) {}

  void Accept() {
    acceptor.async_accept(net::make_strand(core.ioc),
                          [this](beast::error_code ec, tcp::socket socket) {
                            if (ec) {
                              if (!core.stopping && ec != net::error::operation_aborted) {
                                LogWarn("accept failed", {{"error", ec.message()}});
                                Accept();
                              }
                              return;
                            }
                            if (core.stopping) return;
                            auto connection = std::make_shared<Connection>(std::move(socket), core);
                            core.Register(connection);
                            connection->Run();
                            Accept();
                          });
  }

  ServerCore core;
  tcp::acceptor acceptor;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  uint16_t port = 0;
  bool started = false;
  bool stopped = false;
};

HttpServer::HttpServer(TaskService& service, ModelCatalog models, HttpServerOptions options)
    : impl_(std::make_unique<Impl>(service, std::move(models), std::move(options))) {}

HttpServer::~HttpServer() { Stop(); }

Gateway& HttpServer::gateway() { return impl_->core.gateway; }

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
  if (d.acceptor.set_option(net::socket_base::reuse_address(true), ec); ec)
    return fail("cannot set up");
  if (d.acceptor.bind(endpoint, ec); ec) return fail("cannot bind");
  if (d.acceptor.listen(net::socket_base::max_listen_connections, ec); ec)
    return fail("cannot listen on");
  d.port = d.acceptor.local_endpoint(ec).port();
  d.started = true;
  d.work.emplace(d.core.ioc.get_executor());
  d.Accept();
  int threads = o.io_threads > 0
                    ? o.io_threads
                    : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  for (int i = 0; i < threads; ++i) d.threads.emplace_back([&d] { d.core.ioc.run(); });
  LogInfo("http server listening", {{"address", host + ":" + std::to_string(d.port)},
                                    {"io_threads", std::to_string(threads)}});
  return Status::Ok();
}

void HttpServer::Stop() {
  Impl& d = *impl_;
  if (!d.started || d.stopped) return;
  d.stopped = true;
  d.core.gateway.SetDraining();
  d.core.stopping = true;
  net::post(d.acceptor.get_executor(), [&d] {
    beast::error_code ignored;
    d.acceptor.close(ignored);
  });
  for (const std::shared_ptr<Connection>& connection : d.core.LiveConnections()) {
    net::post(connection->executor(), [connection] { connection->Shutdown(); });
  }
  auto deadline = std::chrono::steady_clock::now() + d.core.options.stop_grace;
  while (d.core.ConnectionCount() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // Queued submits answer (their answers are posted to strands that still run), then the I/O
  // threads stop.
  d.core.gateway.FinishBlockingCalls();
  d.work.reset();
  d.core.ioc.stop();
  for (std::thread& t : d.threads) t.join();
  d.threads.clear();
  LogInfo("http server stopped");
}

}  // namespace stipple::http
