// `stipple serve`: the all-in-one server — the HTTP gateway, the embedded SQLite task store, the
// file result store, the in-memory event bus and in-process workers on the bundled model, in one
// process over one data directory (with --store redis://, the task store and the event bus are on
// Redis, shared by every gateway). SIGTERM/SIGINT drain it: /readyz turns 503 and new tasks are
// refused, running tasks finish (within --drain-grace-s; then they are given back to the queue,
// which the next start resumes), waiting sync requests get their answer or a 202, and it exits 0.
// SIGHUP reloads the API keys file.
#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "api/api_keys.h"
#include "api/api_server.h"
#include "commands.h"
#include "common/hex.h"
#include "common/id.h"
#include "common/log.h"
#include "common_options.h"
#include "engine/torch_engine.h"
#include "imaging/image_inputs.h"
#include "model_dir.h"
#include "model_loading.h"
#include "notify/in_memory_event_bus.h"
#include "notify/redis/redis_event_bus.h"
#include "reload_signal.h"
#include "results/fs_result_store.h"
#include "results/redis/redis_result_store.h"
#include "serve_results_s3.h"
#include "serve_webhooks.h"
#include "service/service_stack.h"
#include "store/redis/redis_task_store.h"
#include "store/sqlite/sqlite_task_store.h"
#include "webhook/progress_feed.h"
#include "webhook/redis/redis_outbox.h"
#include "webhook/sqlite_outbox.h"
#include "webhook/url_guard.h"
#include "worker/shutdown_signal.h"
#include "worker/worker.h"
#include "worker/worker_supervisor.h"

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
     .help = "the models: one model (a diffusers folder or a single-file .safetensors "
             "checkpoint) or a folder of them (default: the bundled shapes-32 model)",
     .value_name = "PATH"},
    {.name = "model",
     .help = "serve only this model of --model-dir (repeatable; default: every model); null: the "
             "built-in null model (no weights, for measuring the control plane)",
     .kind = OptionKind::kList,
     .value_name = "NAME"},
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
    {.name = "lora-cache-mb",
     .default_value = "1024",
     .help = "loaded LoRA files kept for reuse, in MiB (least recently used dropped first)",
     .value_name = "MB"},
    {.name = "device", .default_value = "cpu", .help = "cpu, cuda or cuda:N", .value_name = "DEV"},
    {.name = "dtype",
     .default_value = "auto",
     .help = "compute dtype: auto (fp16 on CUDA, fp32 on the CPU), fp32, fp16 or bf16",
     .value_name = "DTYPE"},
    {.name = "io-threads",
     .default_value = "0",
     .help = "HTTP I/O threads; 0: one per core",
     .value_name = "N"},
    {.name = "rate-limit",
     .default_value = "0",
     .help = "requests per second per API key (token bucket, burst 20); 0: unlimited",
     .value_name = "RATE"},
    {.name = "store",
     .default_value = "sqlite",
     .help =
         "task store: sqlite (tasks.db in --data-dir) or redis://[[user:]password@]HOST:PORT/DB",
     .value_name = "STORE"},
    {.name = "results",
     .default_value = "files",
     .help = "result store: files (outputs/ in --data-dir), redis://[[user:]password@]HOST:PORT/DB "
             "or s3://BUCKET[/PREFIX] (see --s3-endpoint; credentials from AWS_ACCESS_KEY_ID, "
             "AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)",
     .value_name = "STORE"},
    {.name = "worker-token",
     .help = "a token worker processes may present (stipple worker --token); repeatable",
     .kind = OptionKind::kList,
     .value_name = "TOKEN"},
    {.name = "worker-processes",
     .default_value = "0",
     .help = "run N supervised worker processes instead of in-process workers (restarted if "
             "they die)",
     .value_name = "N"},
    {.name = "worker-command",
     .help = "the program (and its first arguments) a worker process runs; default: this "
             "binary's worker command",
     .value_name = "'PATH [ARG...]'"},
    {.name = "tenant-max-queued",
     .default_value = "0",
     .help = "queued tasks one tenant may have; more get 429 with Retry-After; 0: no quota",
     .value_name = "N"},
    {.name = "max-submit-mib",
     .default_value = "20",
     .help = "the largest submit body (POST /v1/tasks, /v1/images/*, WebSocket messages) in MiB: "
             "images come as base64 data: URLs; over it: 413",
     .value_name = "N"},
    {.name = "max-connections",
     .default_value = "0",
     .help = "HTTP connections served at once; one more gets 503 and is closed; 0: derived from "
             "the descriptor limit (RLIMIT_NOFILE less an eighth and 64)",
     .value_name = "N"},
    {.name = "max-held-per-tenant",
     .default_value = "1000",
     .help = "requests one tenant may hold open with Prefer: wait; more get 429; 0: no bound",
     .value_name = "N"},
    {.name = "max-held-per-address",
     .default_value = "250",
     .help = "requests one client address may hold open with Prefer: wait; more get 429; 0: no "
             "bound (behind a reverse proxy every client has its address)",
     .value_name = "N"},
    {.name = "max-streams-per-tenant",
     .default_value = "500",
     .help = "event streams (SSE and WebSockets) one tenant may have open; more get 429; 0: no "
             "bound",
     .value_name = "N"},
    {.name = "max-streams-per-address",
     .default_value = "250",
     .help = "event streams (SSE and WebSockets) one client address may have open; more get 429; "
             "0: no bound (behind a reverse proxy every client has its address)",
     .value_name = "N"},
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
  std::vector<std::string> models;  // --model: a subset of --model-dir's
  int64_t workers, max_batch, batch_window_ms, max_queue, max_attempts, lease_s, drain_grace_s,
      threads, io_threads, lora_cache_mb;
  double rate_limit = 0;
  std::string device, dtype;
  std::string store, results;  // "sqlite" / "files", or a redis:// URL
  std::vector<std::string> worker_tokens;
  int64_t worker_processes = 0;
  std::string worker_command;
  bool gateway_only = false;          // `stipple gateway`: no workers, no engine
  std::string log_level, log_format;  // handed on to worker processes
  int64_t tenant_max_queued = 0;
  int64_t max_connections = 0, max_held_per_tenant = 0, max_held_per_address = 0;
  int64_t max_streams_per_tenant = 0, max_streams_per_address = 0;
  int64_t max_submit_mib = 20;
  WebhookSettings webhooks;
  S3ResultSettings s3;  // --results s3://...
};

Result<Settings> ReadSettings(const Config& config) {
  Settings s;
  ASSIGN_OR_RETURN(s.listen, ParseListen(config.GetString("listen")));
  s.data_dir = config.GetString("data-dir");
  ASSIGN_OR_RETURN(s.model_dir, ResolveModelDir(config));
  s.models = config.GetList("model");
  if (config.Has("api-keys")) s.api_keys = config.GetString("api-keys");
  s.device = config.GetString("device");
  s.dtype = config.GetString("dtype");
  ASSIGN_OR_RETURN(s.workers, IntOption(config, "workers", 0, 64));
  ASSIGN_OR_RETURN(s.max_batch, IntOption(config, "max-batch", 1, 64));
  ASSIGN_OR_RETURN(s.batch_window_ms, IntOption(config, "batch-window-ms", 0, 10'000));
  ASSIGN_OR_RETURN(s.max_queue, IntOption(config, "max-queue", 0, 100'000'000));
  ASSIGN_OR_RETURN(s.max_attempts, IntOption(config, "max-attempts", 1, 100));
  ASSIGN_OR_RETURN(s.lease_s, IntOption(config, "lease-s", 1, 86'400));
  ASSIGN_OR_RETURN(s.drain_grace_s, IntOption(config, "drain-grace-s", 0, 86'400));
  ASSIGN_OR_RETURN(s.threads, IntOption(config, "threads", 0, 1024));
  ASSIGN_OR_RETURN(s.lora_cache_mb, IntOption(config, "lora-cache-mb", 0, 1 << 20));
  ASSIGN_OR_RETURN(s.io_threads, IntOption(config, "io-threads", 0, 1024));
  ASSIGN_OR_RETURN(s.rate_limit, config.GetDouble("rate-limit"));
  if (s.rate_limit < 0) return InvalidArgumentError("--rate-limit must be >= 0");
  s.store = config.GetString("store");
  if (s.store != "sqlite") {
    Result<redis::RedisUrl> url = redis::ParseRedisUrl(s.store);
    if (!url.ok()) return InvalidArgumentError("--store: " + url.status().message());
  }
  s.results = config.GetString("results");
  ASSIGN_OR_RETURN(s.s3, ReadS3ResultSettings(config, s.results));
  if (s.results != "files" && !IsS3Results(s.results)) {
    Result<redis::RedisUrl> url = redis::ParseRedisUrl(s.results);
    if (!url.ok()) return InvalidArgumentError("--results: " + url.status().message());
  }
  s.worker_tokens = config.GetList("worker-token");
  for (const std::string& token : s.worker_tokens) {
    if (token.size() < 16)
      return InvalidArgumentError("--worker-token must be 16 characters or more");
  }
  ASSIGN_OR_RETURN(s.worker_processes, IntOption(config, "worker-processes", 0, 64));
  if (config.Has("worker-command")) s.worker_command = config.GetString("worker-command");
  s.log_level = config.GetString("log-level");
  s.log_format = config.GetString("log-format");
  ASSIGN_OR_RETURN(s.tenant_max_queued, IntOption(config, "tenant-max-queued", 0, 100'000'000));
  ASSIGN_OR_RETURN(s.max_connections, IntOption(config, "max-connections", 0, 10'000'000));
  ASSIGN_OR_RETURN(s.max_submit_mib, IntOption(config, "max-submit-mib", 1, 1024));
  ASSIGN_OR_RETURN(s.max_held_per_tenant, IntOption(config, "max-held-per-tenant", 0, 10'000'000));
  ASSIGN_OR_RETURN(s.max_held_per_address,
                   IntOption(config, "max-held-per-address", 0, 10'000'000));
  ASSIGN_OR_RETURN(s.max_streams_per_tenant,
                   IntOption(config, "max-streams-per-tenant", 0, 10'000'000));
  ASSIGN_OR_RETURN(s.max_streams_per_address,
                   IntOption(config, "max-streams-per-address", 0, 10'000'000));
  ASSIGN_OR_RETURN(s.webhooks, ReadWebhookSettings(config));
  return s;
}

// The task store --store names: SQLite in the data dir, or a Redis server shared by gateways.
// With SQLite, `outbox` (when given) records webhook deliveries in the same transactions.
Result<std::unique_ptr<TaskStore>> OpenTaskStore(const Settings& s,
                                                 webhook::SqliteWebhookOutbox* outbox) {
  if (s.store == "sqlite") {
    SqliteTaskStoreOptions options;
    options.path = (std::filesystem::path(s.data_dir) / "tasks.db").string();
    options.listener = outbox;
    ASSIGN_OR_RETURN(auto store, SqliteTaskStore::Open(options));
    if (outbox != nullptr) outbox->Attach(store.get());
    return std::unique_ptr<TaskStore>(std::move(store));
  }
  RedisTaskStoreOptions options;
  options.url = s.store;
  ASSIGN_OR_RETURN(auto store, RedisTaskStore::Open(options));
  return std::unique_ptr<TaskStore>(std::move(store));
}

// The event bus: in memory beside SQLite; on the Redis server of the task store otherwise, so
// that every gateway sees every task's events.
std::unique_ptr<EventBus> OpenEventBus(const Settings& s) {
  if (s.store == "sqlite") return std::make_unique<InMemoryEventBus>();
  return std::make_unique<RedisEventBus>(
      redis::RedisClientOptions{.url = *redis::ParseRedisUrl(s.store)});
}

Result<std::unique_ptr<ResultStore>> OpenResultStore(const Settings& s) {
  if (s.results == "files") {
    ASSIGN_OR_RETURN(
        auto results,
        FsResultStore::Open({.dir = (std::filesystem::path(s.data_dir) / "outputs").string()}));
    return std::unique_ptr<ResultStore>(std::move(results));
  }
  RedisResultStoreOptions options;
  options.url = s.results;
  ASSIGN_OR_RETURN(auto results, RedisResultStore::Open(options));
  return std::unique_ptr<ResultStore>(std::move(results));
}

// One worker process's command line: --worker-command (or this binary's `worker`) plus the
// gateway and the model settings of this server.
Result<WorkerSupervisorOptions> SupervisorOptions(const Settings& s, uint16_t port) {
  WorkerSupervisorOptions o;
  if (s.worker_command.empty()) {
    std::error_code ec;
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return InternalError("cannot find this program's path: " + ec.message());
    o.command = {self.string(), "worker"};
  } else {
    std::istringstream words(s.worker_command);
    for (std::string word; words >> word;) o.command.push_back(word);
  }
  const std::string host = s.listen.host == "0.0.0.0" ? "127.0.0.1" : s.listen.host;
  const std::vector<std::string> flags = {
      "--gateway",       "http://" + host + ":" + std::to_string(port),
      "--model-dir",     s.model_dir,
      "--device",        s.device,
      "--dtype",         s.dtype,
      "--max-batch",     std::to_string(s.max_batch),
      "--lease-s",       std::to_string(s.lease_s),
      "--drain-grace-s", std::to_string(s.drain_grace_s),
      "--threads",       std::to_string(s.threads),
      "--lora-cache-mb", std::to_string(s.lora_cache_mb),
      "--log-level",     s.log_level,
      "--log-format",    s.log_format};
  o.command.insert(o.command.end(), flags.begin(), flags.end());
  for (const std::string& model : s.models) o.command.insert(o.command.end(), {"--model", model});
  o.processes = static_cast<int>(s.worker_processes);
  o.stop_timeout = Millis((s.drain_grace_s + 15) * 1000);
  return o;
}

int Serve(const Settings& s) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(s.data_dir, ec);
  if (ec)
    return Fail(kExitFailure,
                UnavailableError("cannot create " + s.data_dir + ": " + ec.message()));
  if (Status st = ShutdownSignal::Install(); !st.ok()) return Fail(kExitFailure, st);

  // In-process workers need the engine here; a gateway, or a server whose workers are
  // processes, reads only the model's limits (no libtorch in the API process).
  const bool in_process = !s.gateway_only && s.worker_processes == 0 && s.workers > 0;
  TorchEngineOptions engine_options;
  engine_options.device = s.device;
  engine_options.dtype = s.dtype;
  engine_options.threads = static_cast<int>(s.threads);
  engine_options.lora_cache_bytes = s.lora_cache_mb << 20;
  Result<LoadedModels> models = in_process
                                    ? LoadModels(s.model_dir, s.models, engine_options, "serve")
                                    : DescribeModels(s.model_dir, s.models, "serve");
  if (!models.ok()) return Fail(kExitFailure, models.status());

  // The webhook outbox: with SQLite, tables in the task database written in the transaction of
  // each state change; with Redis, keys beside the tasks, fed by intents that the store's scripts
  // write with each state change (docs/redis.md, "Webhook outbox").
  const bool on_redis = s.store != "sqlite";
  webhook::SqliteWebhookOutbox sqlite_outbox;
  Result<std::unique_ptr<TaskStore>> store = OpenTaskStore(s, on_redis ? nullptr : &sqlite_outbox);
  if (!store.ok()) return Fail(kExitFailure, store.status());
  std::unique_ptr<webhook::RedisWebhookOutbox> redis_outbox;
  if (on_redis) {
    Result<std::unique_ptr<webhook::RedisWebhookOutbox>> opened =
        webhook::RedisWebhookOutbox::Open({.url = s.store});
    if (!opened.ok()) return Fail(kExitFailure, opened.status());
    redis_outbox = std::move(*opened);
  }
  webhook::WebhookOutbox& outbox =
      on_redis ? static_cast<webhook::WebhookOutbox&>(*redis_outbox) : sqlite_outbox;
  webhook::WebhookDispatcherOptions dispatch = s.webhooks.dispatcher;
  Result<std::vector<webhook::SigningSecret>> secrets =
      on_redis ? LoadSharedWebhookSecrets(s.webhooks, *redis_outbox)
               : LoadWebhookSecrets(s.webhooks, s.data_dir);
  if (!secrets.ok()) return Fail(kExitFailure, secrets.status());
  dispatch.secrets = std::move(*secrets);

  std::string s3_where;  // "s3://BUCKET/PREFIX at ENDPOINT (REGION)"
  Result<std::unique_ptr<ResultStore>> results =
      IsS3Results(s.results) ? OpenS3ResultStore(s.s3, &s3_where) : OpenResultStore(s);
  if (!results.ok()) return Fail(kExitFailure, results.status());
  std::unique_ptr<EventBus> bus = OpenEventBus(s);
  ServiceOptions service_options;
  service_options.max_queue = s.max_queue;
  ServiceStack service(**store, *bus, **results, service_options);

  http::ApiServerOptions http_options;
  http_options.host = s.listen.host;
  http_options.port = s.listen.port;
  http_options.io_threads = static_cast<int>(s.io_threads);
  http_options.gateway.max_attempts = static_cast<int>(s.max_attempts);
  http_options.gateway.rate_limit_per_s = s.rate_limit;
  http_options.gateway.tenant_max_queued = s.tenant_max_queued;
  http_options.max_connections = static_cast<size_t>(s.max_connections);
  http_options.max_submit_body_bytes = static_cast<size_t>(s.max_submit_mib) << 20;
  http_options.gateway.max_held_per_tenant = static_cast<int>(s.max_held_per_tenant);
  http_options.gateway.max_held_per_address = static_cast<int>(s.max_held_per_address);
  http_options.gateway.max_streams_per_tenant = static_cast<int>(s.max_streams_per_tenant);
  http_options.gateway.max_streams_per_address = static_cast<int>(s.max_streams_per_address);
  http_options.gateway.check_webhook = [allow = dispatch.allow_private](const WebhookSpec& w) {
    return webhook::CheckWebhookTarget(w.url, allow);
  };
  webhook::OutboxDeliveries deliveries(outbox);
  http_options.gateway.webhooks = &deliveries;
  // Image inputs: an https:// one is fetched under the webhooks' SSRF rules (the same
  // --webhook-allow-private); stored with the outputs.
  ImageInputOptions image_options;
  image_options.fetch_options.allow_private = dispatch.allow_private;
  StoreImageInputs image_inputs(**results, image_options);
  http_options.gateway.image_inputs = &image_inputs;
  http::ApiServer server(service.tasks(), models->catalog, http_options);
  dispatch.count_outcome = server.gateway().metrics().WebhookDeliveryCounter();
  // With Redis every gateway runs a dispatcher; their claims on the shared outbox never overlap.
  webhook::WebhookDispatcher dispatcher(outbox, dispatch);
  if (Status st = dispatcher.Start(); !st.ok()) return Fail(kExitFailure, st);
  std::optional<webhook::WebhookProgressFeed> progress_feed;
  progress_feed.emplace(*bus, **store, outbox, s.webhooks.progress_interval);
  if (!s.api_keys.empty()) {
    Result<http::ApiKeys> keys = http::ApiKeys::Load(s.api_keys);
    if (!keys.ok()) return Fail(kExitUsage, keys.status());
    server.gateway().SetApiKeys(std::move(*keys));
  }
  // SIGHUP reloads the keys file; a file that no longer parses leaves the old keys in place.
  Result<std::unique_ptr<ReloadSignal>> reload = ReloadSignal::Install([&server, &s] {
    if (s.api_keys.empty()) return LogInfo("SIGHUP: no API keys file to reload", {});
    Result<http::ApiKeys> keys = http::ApiKeys::Load(s.api_keys);
    if (!keys.ok()) {
      return LogWarn("SIGHUP: API keys not reloaded; the old ones stay",
                     {{"error", keys.status().ToString()}});
    }
    const size_t count = keys->size();
    server.gateway().SetApiKeys(std::move(*keys));
    LogInfo("SIGHUP: API keys reloaded", {{"keys", std::to_string(count)}});
  });
  if (!reload.ok()) return Fail(kExitFailure, reload.status());

  // Worker processes reach the service through the worker protocol, with a token of their own.
  std::vector<std::string> worker_tokens = s.worker_tokens;
  std::string process_token;
  if (!s.gateway_only && s.worker_processes > 0) {
    std::array<uint8_t, 32> secret;
    FillRandom(secret.data(), secret.size());
    process_token = HexEncode(secret);
    worker_tokens.push_back(process_token);
  }
  if (!worker_tokens.empty()) {
    http::WorkerProtocolOptions protocol;
    protocol.tokens = worker_tokens;
    server.gateway().EnableWorkerProtocol(service.work(), protocol);
  }

  std::vector<std::unique_ptr<Worker>> workers;
  for (int64_t i = 0; in_process && i < s.workers; ++i) {
    WorkerOptions options;
    options.device = s.device;
    options.max_batch = static_cast<int>(s.max_batch);
    options.batch_window = Millis(s.batch_window_ms);
    options.lease_duration = Millis(s.lease_s * 1000);
    workers.push_back(std::make_unique<Worker>(&service.work(), models->EnginePointers(), options));
    if (Status st = workers.back()->Start(); !st.ok()) return Fail(kExitFailure, st);
  }
  if (Status st = server.Start(); !st.ok()) return Fail(kExitFailure, st);
  std::string where = s.data_dir;  // the data dir, or the Redis servers (without credentials)
  if (s.store != "sqlite") where = "tasks on " + redis::ParseRedisUrl(s.store)->Redacted();
  if (IsS3Results(s.results)) {
    where += ", images on " + s3_where;
  } else if (s.results != "files") {
    where += ", images on " + redis::ParseRedisUrl(s.results)->Redacted();
  }
  const int64_t worker_count =
      s.gateway_only ? 0 : (s.worker_processes > 0 ? s.worker_processes : s.workers);
  const char* worker_kind = s.worker_processes > 0 ? "worker process" : "worker";
  std::printf("stipple %s http://%s:%u  (model%s %s, %lld %s%s, data in %s%s)\n",
              s.gateway_only ? "gateway serving" : "serving", s.listen.host.c_str(), server.port(),
              models->catalog.models.size() == 1 ? "" : "s", models->Names().c_str(),
              static_cast<long long>(worker_count), worker_kind,
              worker_count == 1 ? "" : (s.worker_processes > 0 ? "es" : "s"), where.c_str(),
              s.api_keys.empty() ? ", open: no API keys" : "");
  std::fflush(stdout);
  std::unique_ptr<WorkerSupervisor> supervisor;  // after the line above: it is the first
  if (!process_token.empty()) {
    Result<WorkerSupervisorOptions> options = SupervisorOptions(s, server.port());
    if (!options.ok()) return Fail(kExitUsage, options.status());
    options->env = {{"STIPPLE_TOKEN", process_token}};
    supervisor = std::make_unique<WorkerSupervisor>(std::move(options).value());
    if (Status st = supervisor->Start(); !st.ok()) return Fail(kExitFailure, st);
  }

  const int signo = ShutdownSignal::Wait();
  LogInfo("draining", {{"signal", std::to_string(signo)}});
  service.Drain();                  // /readyz 503, new tasks refused, nothing more leased
  std::vector<std::thread> drains;  // in parallel: each may wait out the whole grace
  for (auto& w : workers) {
    drains.emplace_back([&w, &s] { w->Drain(Millis(s.drain_grace_s * 1000)); });
  }
  if (supervisor) drains.emplace_back([&supervisor] { supervisor->Stop(); });  // SIGTERM: drain
  for (std::thread& t : drains) t.join();
  server.Stop();  // waiting sync requests answer (202 if their task is not done)
  service.Stop();
  dispatcher.Stop();  // deliveries in flight are due again at the next start (or, on Redis, now)
  LogInfo("stopped", {});
  return kExitOk;
}

int RunServeOrGateway(std::span<const std::string> args, bool gateway_only) {
  std::vector<OptionSpec> options(std::begin(kServeOptions), std::end(kServeOptions));
  options.insert(options.end(), WebhookOptions().begin(), WebhookOptions().end());
  options.insert(options.end(), S3ResultOptions().begin(), S3ResultOptions().end());
  ParsedOptions parsed =
      ParseCommandOptions(gateway_only ? "stipple gateway [OPTIONS]" : kUsage, options, args);
  if (!parsed.config) return parsed.exit_code;
  if (!parsed.config->positional().empty()) {
    return Fail(kExitUsage,
                InvalidArgumentError("unexpected argument " + parsed.config->positional()[0]));
  }
  Result<Settings> settings = ReadSettings(*parsed.config);
  if (!settings.ok()) return Fail(kExitUsage, settings.status());
  settings->gateway_only = gateway_only;
  return Serve(*settings);
}

}  // namespace

int RunServe(std::span<const std::string> args) { return RunServeOrGateway(args, false); }

int RunGateway(std::span<const std::string> args) { return RunServeOrGateway(args, true); }

}  // namespace stipple::app
