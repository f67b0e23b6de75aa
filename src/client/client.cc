#include "client/client.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>

#include "client/sse_parser.h"
#include "common/hex.h"
#include "common/id.h"

namespace stipple::client {
namespace {

namespace json = boost::json;
using SteadyClock = std::chrono::steady_clock;

constexpr size_t kMaxIdleConnections = 8;
constexpr int kMaxWaitChunkS = 60;  // one long poll; the server allows up to 300

Status Stopped() { return Status(StatusCode::kCancelled, "stopped"); }

// Sleeps for `delay` unless `stop` fires first (then kCancelled).
Status SleepFor(Millis delay, const std::stop_token& stop) {
  Mutex mu;
  std::condition_variable_any cv;
  MutexLock lock(mu);
  cv.wait_for(lock.native(), stop, delay, [] { return false; });
  return stop.stop_requested() ? Stopped() : Status::Ok();
}

StatusCode CodeForHttp(int status, std::string_view type) {
  switch (status) {
    case 400:
    case 413:
    case 415:
    case 431: return StatusCode::kInvalidArgument;
    case 401: return StatusCode::kUnauthenticated;
    case 403: return StatusCode::kPermissionDenied;
    case 404: return StatusCode::kNotFound;
    case 409:
      return type == "idempotency_conflict" ? StatusCode::kAlreadyExists
                                            : StatusCode::kFailedPrecondition;
    case 410: return StatusCode::kOutOfRange;
    case 429: return StatusCode::kResourceExhausted;
    case 501: return StatusCode::kUnimplemented;
    case 503: return StatusCode::kUnavailable;
    case 504: return StatusCode::kDeadlineExceeded;
    default: return StatusCode::kInternal;
  }
}

bool IsTransportRetryable(const Status& status) {
  return status.code() == StatusCode::kUnavailable ||
         status.code() == StatusCode::kDeadlineExceeded;
}

bool IsRetryableReply(int status) { return status == 429 || status == 503; }

}  // namespace

Status StatusFromReply(const HttpReply& reply) {
  if (reply.status >= 200 && reply.status < 300) return Status::Ok();
  std::string type, message;
  std::vector<FieldError> fields;
  boost::system::error_code ec;
  json::value body = json::parse(reply.body, ec);
  if (!ec && body.is_object()) {
    const json::object& o = body.as_object();
    if (auto* t = o.if_contains("type"); t && t->is_string()) type = t->as_string();
    if (auto* d = o.if_contains("detail"); d && d->is_string()) message = d->as_string();
    if (auto* t = o.if_contains("title"); message.empty() && t && t->is_string()) {
      message = t->as_string();
    }
    if (auto* e = o.if_contains("errors"); e && e->is_array()) {
      for (const json::value& item : e->as_array()) {
        if (!item.is_object()) continue;
        const json::object& f = item.as_object();
        FieldError field;
        if (auto* n = f.if_contains("field"); n && n->is_string()) field.field = n->as_string();
        if (auto* m = f.if_contains("message"); m && m->is_string()) {
          field.message = m->as_string();
        }
        fields.push_back(std::move(field));
      }
    }
  }
  if (message.empty()) message = "the server answered HTTP " + std::to_string(reply.status);
  return Status(CodeForHttp(reply.status, type), std::move(message), std::move(fields));
}

bool IsRetryable(const Status& status) {
  return IsTransportRetryable(status) || status.code() == StatusCode::kResourceExhausted;
}

Millis Backoff(int attempt, Millis initial, Millis max) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  const double base =
      std::min(static_cast<double>(max.count()),
               static_cast<double>(initial.count()) * std::pow(2.0, std::max(0, attempt - 1)));
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return Millis(static_cast<int64_t>(base * jitter(rng)));
}

std::optional<Millis> ParseRetryAfter(std::string_view value) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  int64_t seconds = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size() || seconds < 0) {
    return std::nullopt;
  }
  // Longer than the clock can count in milliseconds: as long as it can (never a wrapped value).
  if (seconds > std::numeric_limits<int64_t>::max() / 1000) return Millis::max();
  return Millis(seconds * 1000);
}

Result<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  ASSIGN_OR_RETURN(ServerUrl server, ParseServerUrl(options.server_url));
  if (options.max_attempts < 1) return InvalidArgumentError("max_attempts must be at least 1");
  return std::unique_ptr<Client>(new Client(std::move(options), std::move(server)));
}

Client::Client(ClientOptions options, ServerUrl server)
    : options_(std::move(options)), server_(std::move(server)) {}

Client::~Client() = default;

HttpRequestSpec Client::Request(std::string method, std::string target) const {
  HttpRequestSpec request;
  request.method = std::move(method);
  request.target = std::move(target);
  request.headers.emplace_back("User-Agent", options_.user_agent);
  request.headers.emplace_back("Accept", "application/json");
  if (!options_.api_key.empty()) {
    request.headers.emplace_back("Authorization", "Bearer " + options_.api_key);
  }
  return request;
}

Result<std::unique_ptr<HttpConnection>> Client::Connection(const std::stop_token& stop,
                                                           bool& pooled) {
  {
    MutexLock lock(mu_);
    if (!idle_.empty()) {
      auto connection = std::move(idle_.back());
      idle_.pop_back();
      pooled = true;
      return connection;
    }
  }
  pooled = false;
  return HttpConnection::Open(server_, options_.connect_timeout, stop);
}

void Client::Release(std::unique_ptr<HttpConnection> connection) {
  MutexLock lock(mu_);
  if (idle_.size() < kMaxIdleConnections) idle_.push_back(std::move(connection));
}

Result<HttpReply> Client::SendOnce(const Call& call, const std::stop_token& stop) {
  while (true) {
    bool pooled = false;
    ASSIGN_OR_RETURN(std::unique_ptr<HttpConnection> connection, Connection(stop, pooled));
    Result<HttpReply> reply = connection->RoundTrip(
        call.request, options_.request_timeout + call.extra_timeout, call.max_body_bytes, stop);
    if (!reply.ok()) {
      // A kept-alive connection the server has closed meanwhile: try again on another.
      if (pooled && reply.status().code() == StatusCode::kUnavailable) continue;
      return reply.status();
    }
    if (connection->reusable()) Release(std::move(connection));
    return reply;
  }
}

Result<HttpReply> Client::Execute(const Call& call, const std::stop_token& stop) {
  for (int attempt = 1;; ++attempt) {
    Result<HttpReply> reply = SendOnce(call, stop);
    Millis delay{0};
    if (reply.ok()) {
      if (!IsRetryableReply(reply->status) || attempt >= options_.max_attempts) return reply;
      std::optional<Millis> after = ParseRetryAfter(reply->Header("Retry-After").value_or(""));
      if (after && *after > options_.max_retry_after) return reply;
      delay = after ? *after : Backoff(attempt, options_.initial_backoff, options_.max_backoff);
    } else {
      if (!IsTransportRetryable(reply.status()) || attempt >= options_.max_attempts) {
        return reply.status();
      }
      delay = Backoff(attempt, options_.initial_backoff, options_.max_backoff);
    }
    RETURN_IF_ERROR(SleepFor(delay, stop));
  }
}

Result<HttpReply> Client::ExecuteOk(const Call& call, const std::stop_token& stop) {
  ASSIGN_OR_RETURN(HttpReply reply, Execute(call, stop));
  RETURN_IF_ERROR(StatusFromReply(reply));
  return reply;
}

Result<SubmitResult> Client::Submit(std::string_view request_json, const SubmitOptions& options,
                                    const std::stop_token& stop) {
  SubmitResult result;
  result.idempotency_key =
      options.idempotency_key.empty() ? NewId("idem") : options.idempotency_key;
  Call call;
  call.request = Request("POST", "/v1/tasks");
  call.request.headers.emplace_back("Content-Type", "application/json");
  call.request.headers.emplace_back("Idempotency-Key", result.idempotency_key);
  if (options.wait_s) {
    call.request.headers.emplace_back("Prefer", "wait=" + std::to_string(*options.wait_s));
    call.extra_timeout = Millis(static_cast<int64_t>(*options.wait_s) * 1000);
  }
  if (!options.request_id.empty()) {
    call.request.headers.emplace_back("X-Request-Id", options.request_id);
  }
  call.request.body = std::string(request_json);
  ASSIGN_OR_RETURN(HttpReply reply, ExecuteOk(call, stop));
  ASSIGN_OR_RETURN(result.task, ParseTaskSnapshot(reply.body));
  result.finished = IsTerminal(result.task.task.state);
  return result;
}

Result<TaskSnapshot> Client::Get(const std::string& task_id, const std::stop_token& stop) {
  Call call;
  call.request = Request("GET", "/v1/tasks/" + PercentEncode(task_id));
  ASSIGN_OR_RETURN(HttpReply reply, ExecuteOk(call, stop));
  return ParseTaskSnapshot(reply.body);
}

Result<TaskSnapshot> Client::Wait(const std::string& task_id, std::optional<Millis> timeout,
                                  const std::stop_token& stop) {
  const auto start = SteadyClock::now();
  int early_answers = 0;
  while (true) {
    int wait_s = kMaxWaitChunkS;
    if (timeout) {
      const auto left = std::chrono::duration_cast<Millis>(*timeout - (SteadyClock::now() - start));
      wait_s = static_cast<int>(std::clamp<int64_t>((left.count() + 999) / 1000, 1, wait_s));
    }
    Call call;
    call.request = Request("GET", "/v1/tasks/" + PercentEncode(task_id));
    call.request.headers.emplace_back("Prefer", "wait=" + std::to_string(wait_s));
    call.extra_timeout = Millis(wait_s * 1000);
    const auto asked = SteadyClock::now();
    ASSIGN_OR_RETURN(HttpReply reply, ExecuteOk(call, stop));
    ASSIGN_OR_RETURN(TaskSnapshot task, ParseTaskSnapshot(reply.body));
    if (IsTerminal(task.task.state)) return task;
    if (timeout && SteadyClock::now() - start >= *timeout) return task;
    // An answer well before the wait asked for (a server that does not honour Prefer: wait, or
    // one that is stopping): poll with backoff rather than in a tight loop.
    if (SteadyClock::now() - asked < Millis(wait_s * 1000) / 2) {
      ++early_answers;
      Millis delay = Backoff(early_answers, options_.initial_backoff, options_.max_backoff);
      if (timeout) {
        delay = std::min(
            delay, std::chrono::duration_cast<Millis>(*timeout - (SteadyClock::now() - start)));
      }
      RETURN_IF_ERROR(SleepFor(std::max(delay, Millis(0)), stop));
    } else {
      early_answers = 0;
    }
  }
}

Status Client::StreamEvents(const std::string& task_id, int64_t after_seq,
                            const EventCallback& on_event, const std::stop_token& stop) {
  int64_t last = after_seq;
  int failures = 0;
  Status last_error;
  Millis delay{0};
  while (true) {
    if (stop.stop_requested()) return Stopped();
    if (failures > 0) {
      if (failures >= options_.max_attempts) {
        return UnavailableError("the event stream of " + task_id +
                                " kept failing: " + last_error.message());
      }
      RETURN_IF_ERROR(SleepFor(delay, stop));
    }
    bool pooled = false;
    Result<std::unique_ptr<HttpConnection>> connection = Connection(stop, pooled);
    if (!connection.ok()) {
      if (!IsTransportRetryable(connection.status())) return connection.status();
      last_error = connection.status();
      ++failures;
      delay = Backoff(failures, options_.initial_backoff, options_.max_backoff);
      continue;
    }
    HttpRequestSpec request = Request("GET", "/v1/tasks/" + PercentEncode(task_id) + "/events");
    request.headers.emplace_back("Accept", "text/event-stream");
    if (last > 0) request.headers.emplace_back("Last-Event-ID", std::to_string(last));
    Result<HttpReply> head = (*connection)->StartStream(request, options_.request_timeout, stop);
    if (!head.ok()) {
      if (pooled && head.status().code() == StatusCode::kUnavailable) continue;
      if (!IsTransportRetryable(head.status())) return head.status();
      last_error = head.status();
      ++failures;
      delay = Backoff(failures, options_.initial_backoff, options_.max_backoff);
      continue;
    }
    if (IsRetryableReply(head->status)) {
      last_error = StatusFromReply(*head);
      ++failures;
      std::optional<Millis> after = ParseRetryAfter(head->Header("Retry-After").value_or(""));
      if (after && *after > options_.max_retry_after) return last_error;
      delay = after ? *after : Backoff(failures, options_.initial_backoff, options_.max_backoff);
      continue;
    }
    RETURN_IF_ERROR(StatusFromReply(*head));
    SseParser parser;
    while (true) {
      Result<std::string> bytes = (*connection)->ReadSome(options_.stream_idle_timeout, stop);
      if (!bytes.ok()) {
        if (bytes.status().code() == StatusCode::kCancelled) return bytes.status();
        last_error = bytes.status().code() == StatusCode::kOutOfRange
                         ? UnavailableError("the server ended the event stream early")
                         : bytes.status();
        break;
      }
      for (SseEvent& frame : parser.Feed(*bytes)) {
        ASSIGN_OR_RETURN(EventSnapshot event, ParseEventSnapshot(frame.data));
        const bool terminal = IsTerminalEvent(event.event.type);
        // Seen already; but the terminal event always comes through, as the server sends it:
        // a one-process server numbers a task's events anew after a restart, so its end may
        // carry a seq at or below one seen before the restart.
        if (event.event.seq <= last && !terminal) continue;
        last = std::max(last, event.event.seq);
        failures = 0;
        if (!on_event(event) || terminal) return Status::Ok();
      }
    }
    ++failures;
    delay = Backoff(failures, options_.initial_backoff, options_.max_backoff);
  }
}

Result<CancelResult> Client::Cancel(const std::string& task_id, const std::stop_token& stop) {
  Call call;
  call.request = Request("POST", "/v1/tasks/" + PercentEncode(task_id) + "/cancel");
  ASSIGN_OR_RETURN(HttpReply reply, Execute(call, stop));
  CancelResult result;
  if (reply.status == 409) {
    // API.md: cancelling a task that has ended answers 409 with the task.
    Result<TaskSnapshot> task = ParseTaskSnapshot(reply.body);
    if (!task.ok()) return StatusFromReply(reply);
    result.task = std::move(task).value();
    result.already_ended = true;
    return result;
  }
  RETURN_IF_ERROR(StatusFromReply(reply));
  ASSIGN_OR_RETURN(result.task, ParseTaskSnapshot(reply.body));
  return result;
}

Result<TaskPage> Client::List(const ListOptions& options, const std::stop_token& stop) {
  std::string query;
  auto add = [&query](std::string_view name, const std::string& value) {
    query += query.empty() ? "?" : "&";
    query += std::string(name) + "=" + PercentEncode(value);
  };
  if (!options.status.empty()) add("status", options.status);
  if (options.limit > 0) add("limit", std::to_string(options.limit));
  if (!options.cursor.empty()) add("cursor", options.cursor);
  Call call;
  call.request = Request("GET", "/v1/tasks" + query);
  ASSIGN_OR_RETURN(HttpReply reply, ExecuteOk(call, stop));
  return ParseTaskPage(reply.body);
}

Result<std::string> Client::DownloadOutput(const std::string& task_id, int index,
                                           const std::stop_token& stop) {
  Call call;
  call.request =
      Request("GET", "/v1/tasks/" + PercentEncode(task_id) + "/outputs/" + std::to_string(index));
  call.request.headers.emplace_back("Accept", "image/png");
  call.max_body_bytes = options_.max_output_bytes;
  ASSIGN_OR_RETURN(HttpReply reply, ExecuteOk(call, stop));
  return std::move(reply.body);
}

Status Client::DownloadOutputTo(const std::string& task_id, int index, const std::string& path,
                                const std::stop_token& stop) {
  ASSIGN_OR_RETURN(std::string bytes, DownloadOutput(task_id, index, stop));
  const std::string partial = path + ".part";
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      std::error_code ignored;
      std::filesystem::remove(partial, ignored);
      return FailedPreconditionError("cannot write " + path);
    }
  }
  std::error_code ec;
  std::filesystem::rename(partial, path, ec);
  if (ec) {
    std::filesystem::remove(partial, ec);
    return FailedPreconditionError("cannot write " + path + ": " + ec.message());
  }
  return Status::Ok();
}

Result<ModelList> Client::Models(const std::stop_token& stop) {
  Call call;
  call.request = Request("GET", "/v1/models");
  ASSIGN_OR_RETURN(HttpReply reply, ExecuteOk(call, stop));
  return ParseModelList(reply.body);
}

Result<QueueFigures> Client::Queue(const std::stop_token& stop) {
  Call call;
  call.request = Request("GET", "/v1/queue");
  ASSIGN_OR_RETURN(HttpReply reply, ExecuteOk(call, stop));
  return ParseQueueFigures(reply.body);
}

Result<WorkerList> Client::Workers(const std::stop_token& stop) {
  Call call;
  call.request = Request("GET", "/v1/workers");
  ASSIGN_OR_RETURN(HttpReply reply, ExecuteOk(call, stop));
  return ParseWorkerList(reply.body);
}

}  // namespace stipple::client
