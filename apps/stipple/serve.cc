// `stipple serve`: the all-in-one server — the HTTP gateway, the embedded SQLite task store, the
// file result store, the in-memory event bus and in-process workers on the bundled model, in one
// process over one data directory. SIGTERM/SIGINT drain it: /readyz turns 503 and new tasks are
// refused, running tasks finish (within --drain-grace-s; then they are given back to the queue,
// which the next start resumes), waiting sync requests get their answer or a 202, and it exits 0.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "commands.h"
#include "common/log.h"
#include "common_options.h"
#include "engine/torch_engine.h"
#include "http/api_keys.h"
#include "http/server.h"
#include "notify/in_memory_event_bus.h"
#include "results/fs_result_store.h"
#include "serve_webhooks.h"
#include "service/local_task_service.h"
#include "store/sqlite/sqlite_task_store.h"
#include "webhook/progress_feed.h"
#include "webhook/sqlite_outbox.h"
#include "webhook/url_guard.h"
#include "worker/shutdown_signal.h"
#include "worker/worker.h"

namespace stipple::app {
namespace {

const OptionSpec kServeOptions[] = {
    {.name = "listen",
     .default_value = "127.0.0.1:8080",
     .help = "HOST:PORT to serve HTTP on (port 0: any free port)",
     .value_name = "HOST:PORT"},
    {.name = "data-dir",
     .default_value = "./stipple-data",
     .help = "where the task database and the images live (created if missing)",
     .value_name = "DIR"},
    {.name = "model-dir",
     .default_value = "models/shapes-32",
     .help = "the model to serve",
     .value_name = "DIR"},
    {.name = "workers",
     .default_value = "1",
     .help = "in-process workers (each runs one batch at a time on the model)",
     .value_name = "N"},
    {.name = "max-batch",
     .default_value = "4",
     .help = "compatible tasks a worker runs as one batch",
     .value_name = "N"},
    {.name = "batch-window-ms",
     .default_value = "10",
     .help = "how long a worker waits to fill a batch while the queue has tasks",
     .value_name = "MS"},
    {.name = "api-keys",
     .help = "keys file: 'TENANT KEY [admin]' lines (KEY plain or sha256:HEX); none: open",
     .value_name = "FILE"},
    {.name = "max-queue",
     .default_value = "10000",
     .help = "queued tasks beyond which submissions get 429",
     .value_name = "N"},
    {.name = "max-attempts",
     .default_value = "3",
     .help = "attempts a task gets before it fails",
     .value_name = "N"},
    {.name = "lease-s",
     .default_value = "30",
     .help = "a worker's lease on a task; a dead worker's task runs again this long after",
     .value_name = "SECONDS"},
    {.name = "drain-grace-s",
     .default_value = "30",
     .help = "on SIGTERM, how long running tasks get to finish before they are requeued",
     .value_name = "SECONDS"},
    {.name = "threads",
     .default_value = "0",
     .help = "libtorch threads for the engine; 0: every core",
     .value_name = "N"},
    {.name = "device", .default_value = "cpu", .help = "cpu, cuda or cuda:N", .value_name = "DEV"},
    {.name = "io-threads",
     .default_value = "0",
     .help = "HTTP I/O threads; 0: one per core",
     .value_name = "N"},
    {.name = "rate-limit",
     .default_value = "0",
     .help = "requests per second per API key (token bucket, burst 20); 0: unlimited",
     .value_name = "RATE"},
};

constexpr const char* kUsage = "stipple serve [OPTIONS]";

int Fail(int code, const Status& status) {
  std::fprintf(stderr, "stipple serve: %s\n", status.ToString().c_str());
  return code;
}

struct Listen {
  std::string host;
  uint16_t port = 0;
};

Result<Listen> ParseListen(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return InvalidArgumentError("--listen '" + text + "': expected HOST:PORT");
  }
  const std::string port = text.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) > 65535) {
    return InvalidArgumentError("--listen '" + text + "': the port must be 0..65535");
  }
  return Listen{text.substr(0, colon), static_cast<uint16_t>(std::stoi(port))};
}

Result<int64_t> IntOption(const Config& config, const char* name, int64_t min, int64_t max) {
  ASSIGN_OR_RETURN(int64_t v, config.GetInt(name));
  if (v < min || v > max) {
    return InvalidArgumentError("--" + std::string(name) + " must be in " + std::to_string(min) +
                                ".." + std::to_string(max));
  }
  return v;
}

struct Settings {
  Listen listen;
  std::string data_dir, model_dir, api_keys;
  int64_t workers, max_batch, batch_window_ms, max_queue, max_attempts, lease_s, drain_grace_s,
      threads, io_threads;
  double rate_limit = 0;
  std::string device;
  WebhookSettings webhooks;
};

Result<Settings> ReadSettings(const Config& config) {
  Settings s;
  ASSIGN_OR_RETURN(s.listen, ParseListen(config.GetString("listen")));
  s.data_dir = config.GetString("data-dir");
  s.model_dir = config.GetString("model-dir");
  if (config.Has("api-keys")) s.api_keys = config.GetString("api-keys");
  s.device = config.GetString("device");
  ASSIGN_OR_RETURN(s.workers, IntOption(config, "workers", 1, 64));
  ASSIGN_OR_RETURN(s.max_batch, IntOption(config, "max-batch", 1, 64));
  ASSIGN_OR_RETURN(s.batch_window_ms, IntOption(config, "batch-window-ms", 0, 10'000));
  ASSIGN_OR_RETURN(s.max_queue, IntOption(config, "max-queue", 0, 100'000'000));
  ASSIGN_OR_RETURN(s.max_attempts, IntOption(config, "max-attempts", 1, 100));
  ASSIGN_OR_RETURN(s.lease_s, IntOption(config, "lease-s", 1, 86'400));
  ASSIGN_OR_RETURN(s.drain_grace_s, IntOption(config, "drain-grace-s", 0, 86'400));
  ASSIGN_OR_RETURN(s.threads, IntOption(config, "threads", 0, 1024));
  ASSIGN_OR_RETURN(s.io_threads, IntOption(config, "io-threads", 0, 1024));
  ASSIGN_OR_RETURN(s.rate_limit, config.GetDouble("rate-limit"));
  if (s.rate_limit < 0) return InvalidArgumentError("--rate-limit must be >= 0");
  ASSIGN_OR_RETURN(s.webhooks, ReadWebhookSettings(config));
  return s;
}

int Serve(const Settings& s) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(s.data_dir, ec);
  if (ec)
    return Fail(kExitFailure,
                UnavailableError("cannot create " + s.data_dir + ": " + ec.message()));
  if (Status st = ShutdownSignal::Install(); !st.ok()) return Fail(kExitFailure, st);

  TorchEngineOptions engine_options;
  engine_options.device = s.device;
  engine_options.threads = static_cast<int>(s.threads);
  Result<std::unique_ptr<Engine>> engine = TorchEngine::Load(s.model_dir, engine_options);
  if (!engine.ok()) return Fail(kExitFailure, engine.status());

  // The webhook outbox shares the task database: deliveries commit with their state changes.
  webhook::WebhookDispatcherOptions dispatch = s.webhooks.dispatcher;
  Result<std::vector<webhook::SigningSecret>> secrets = LoadWebhookSecrets(s.webhooks, s.data_dir);
  if (!secrets.ok()) return Fail(kExitFailure, secrets.status());
  dispatch.secrets = std::move(*secrets);
  webhook::SqliteWebhookOutbox outbox;

  SqliteTaskStoreOptions store_options;
  store_options.path = (fs::path(s.data_dir) / "tasks.db").string();
  store_options.listener = &outbox;
  Result<std::unique_ptr<SqliteTaskStore>> store = SqliteTaskStore::Open(store_options);
  if (!store.ok()) return Fail(kExitFailure, store.status());
  outbox.Attach(store->get());
  Result<std::unique_ptr<FsResultStore>> results =
      FsResultStore::Open({.dir = (fs::path(s.data_dir) / "outputs").string()});
  if (!results.ok()) return Fail(kExitFailure, results.status());
  InMemoryEventBus bus;
  LocalTaskServiceOptions service_options;
  service_options.max_queue = s.max_queue;
  LocalTaskService service(**store, bus, **results, service_options);

  http::HttpServerOptions http_options;
  http_options.host = s.listen.host;
  http_options.port = s.listen.port;
  http_options.io_threads = static_cast<int>(s.io_threads);
  http_options.gateway.max_attempts = static_cast<int>(s.max_attempts);
  http_options.gateway.rate_limit_per_s = s.rate_limit;
  http_options.gateway.check_webhook = [allow = dispatch.allow_private](const WebhookSpec& w) {
    return webhook::CheckWebhookTarget(w.url, allow);
  };
  http_options.gateway.webhooks = &outbox;
  webhook::WebhookDispatcher dispatcher(outbox, dispatch);
  if (Status st = dispatcher.Start(); !st.ok()) return Fail(kExitFailure, st);
  webhook::WebhookProgressFeed progress_feed(bus, **store, outbox, s.webhooks.progress_interval);
  http::HttpServer server(service, ModelCatalog{{(*engine)->limits()}}, http_options);
  if (!s.api_keys.empty()) {
    Result<http::ApiKeys> keys = http::ApiKeys::Load(s.api_keys);
    if (!keys.ok()) return Fail(kExitUsage, keys.status());
    server.gateway().SetApiKeys(std::move(*keys));
  }

  std::vector<std::unique_ptr<Worker>> workers;
  for (int64_t i = 0; i < s.workers; ++i) {
    WorkerOptions options;
    options.device = s.device;
    options.max_batch = static_cast<int>(s.max_batch);
    options.batch_window = Millis(s.batch_window_ms);
    options.lease_duration = Millis(s.lease_s * 1000);
    workers.push_back(
        std::make_unique<Worker>(&service, std::vector<Engine*>{engine->get()}, options));
    if (Status st = workers.back()->Start(); !st.ok()) return Fail(kExitFailure, st);
  }
  if (Status st = server.Start(); !st.ok()) return Fail(kExitFailure, st);
  std::printf("stipple serving http://%s:%u  (model %s, %lld worker%s, data in %s%s)\n",
              s.listen.host.c_str(), server.port(), (*engine)->limits().name.c_str(),
              static_cast<long long>(s.workers), s.workers == 1 ? "" : "s", s.data_dir.c_str(),
              s.api_keys.empty() ? ", open: no API keys" : "");
  std::fflush(stdout);

  const int signo = ShutdownSignal::Wait();
  LogInfo("draining", {{"signal", std::to_string(signo)}});
  service.Drain();                  // /readyz 503, new tasks refused, nothing more leased
  std::vector<std::thread> drains;  // in parallel: each may wait out the whole grace
  for (auto& w : workers) {
    drains.emplace_back([&w, &s] { w->Drain(Millis(s.drain_grace_s * 1000)); });
  }
  for (std::thread& t : drains) t.join();
  server.Stop();  // waiting sync requests answer (202 if their task is not done)
  service.Stop();
  dispatcher.Stop();  // deliveries in flight are due again at the next start
  LogInfo("stopped", {});
  return kExitOk;
}

}  // namespace

int RunServe(std::span<const std::string> args) {
  std::vector<OptionSpec> options(std::begin(kServeOptions), std::end(kServeOptions));
  options.insert(options.end(), WebhookOptions().begin(), WebhookOptions().end());
  ParsedOptions parsed = ParseCommandOptions(kUsage, options, args);
  if (!parsed.config) return parsed.exit_code;
  if (!parsed.config->positional().empty()) {
    return Fail(kExitUsage,
                InvalidArgumentError("unexpected argument " + parsed.config->positional()[0]));
  }
  Result<Settings> settings = ReadSettings(*parsed.config);
  if (!settings.ok()) return Fail(kExitUsage, settings.status());
  return Serve(*settings);
}

}  // namespace stipple::app
