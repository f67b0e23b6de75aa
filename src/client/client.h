// Client: stipple's C++ client library — the HTTP API of API.md as blocking calls. Used by the
// `stipple` client commands, the end-to-end tests and the benchmarks.
//
//   client::ClientOptions options;
//   options.server_url = "http://127.0.0.1:8080";
//   options.api_key = key;                                  // empty: an open server
//   ASSIGN_OR_RETURN(auto c, client::Client::Create(options));
//   ASSIGN_OR_RETURN(auto task, c->Submit(R"({"prompt":"a red circle","steps":10})"));
//   ASSIGN_OR_RETURN(task, c->Wait(task.task.id));          // long poll until it ends
//   ASSIGN_OR_RETURN(std::string png, c->DownloadOutput(task.task.id, 0));
//
// Retries (every call): a connection error, a timeout, `429` and `503` are retried up to
// max_attempts times in all — after the answer's Retry-After when it has one (longer than
// max_retry_after: no retry), otherwise after an exponential backoff with jitter. Every other
// answer is final. Submit sends an Idempotency-Key (generated per submission unless given), so a
// retried submit can never create a second task. A kept-alive connection that turns out to be
// closed is replaced at once without counting an attempt.
//
// Errors are the Status of the server's problem+json answer, mapped back from its HTTP status:
// 400 kInvalidArgument (field_errors as the server named them), 401 kUnauthenticated, 403
// kPermissionDenied, 404 kNotFound, 409 kFailedPrecondition (kAlreadyExists for an idempotency
// key reused with another body), 410 kOutOfRange, 413 kInvalidArgument, 429 kResourceExhausted,
// 503 kUnavailable, 504 kDeadlineExceeded, others kInternal. Transport failures: kUnavailable
// (cannot reach the server; the message names its address), kDeadlineExceeded (no answer in
// time). kCancelled: the caller's stop token fired. kDataLoss: the answer is not what API.md says.
//
// Thread-safe: calls may run concurrently from any threads (each uses its own connection; idle
// kept-alive connections are pooled).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "client/http_connection.h"
#include "client/task_codec.h"
#include "common/status.h"
#include "common/thread_annotations.h"

namespace stipple::client {

struct ClientOptions {
  std::string server_url = "http://127.0.0.1:8080";
  std::string api_key;  // sent as "Authorization: Bearer KEY"; empty: none
  Millis connect_timeout{10'000};
  // A whole answer must arrive within this (plus the wait asked for, on waits).
  Millis request_timeout{60'000};
  // An event stream that sends nothing (not even its 15 s keep-alive) for this long is
  // considered dropped and is resumed on a new connection.
  Millis stream_idle_timeout{45'000};
  int max_attempts = 4;  // per call, the first try included; >= 1
  Millis initial_backoff{250};
  Millis max_backoff{8'000};
  Millis max_retry_after{60'000};
  size_t max_output_bytes = size_t{64} * 1024 * 1024;
  std::string user_agent = "stipple-client";
};

struct SubmitOptions {
  // Set: a synchronous submit (Prefer: wait=N, 1..300): the answer comes when the task ends or
  // after N seconds, whichever is first. Unset: asynchronous, answered at once.
  std::optional<int> wait_s;
  // Empty: a new key is generated for this submission (see last_idempotency_key in the result).
  std::string idempotency_key;
  // Optional X-Request-Id.
  std::string request_id;
};

struct SubmitResult {
  TaskSnapshot task;
  bool finished = false;        // the task had ended when the answer came
  std::string idempotency_key;  // the key sent (given or generated)
};

struct CancelResult {
  TaskSnapshot task;           // canceled, or running with cancel_requested
  bool already_ended = false;  // 409: it had ended before; task is its final state
};

struct ListOptions {
  std::string status;  // empty: any
  int limit = 0;       // 0: the server's default (1..100)
  std::string cursor;  // from TaskPage::next_cursor
};

// Called for each event in order; return false to stop the stream early.
using EventCallback = std::function<bool(const EventSnapshot&)>;

class Client {
 public:
  // kInvalidArgument for a bad server_url or option.
  static Result<std::unique_ptr<Client>> Create(ClientOptions options);
  ~Client();

  const ClientOptions& options() const { return options_; }
  const ServerUrl& server() const { return server_; }

  // POST /v1/tasks. `request_json` is a generation request (API.md); it is checked by the server.
  Result<SubmitResult> Submit(std::string_view request_json, const SubmitOptions& options = {},
                              const std::stop_token& stop = {});

  // GET /v1/tasks/{id}.
  Result<TaskSnapshot> Get(const std::string& task_id, const std::stop_token& stop = {});

  // Long-polls (Prefer: wait) until the task ends, and answers it then; with a timeout, answers
  // the task as it is when the timeout passes (not yet ended). A server that answers before its
  // wait is polled with backoff instead.
  Result<TaskSnapshot> Wait(const std::string& task_id,
                            std::optional<Millis> timeout = std::nullopt,
                            const std::stop_token& stop = {});

  // Streams the task's events after `after_seq` (0: all) in order until its terminal event or
  // until `on_event` returns false; answers OK then. A dropped or silent stream is resumed with
  // Last-Event-ID, so no event is missed or repeated; it gives up (kUnavailable) after
  // max_attempts failures in a row. The terminal event is always delivered, even with a seq not
  // above one seen (a one-process server restarted in between numbers the task's events anew;
  // its other events at or below the last seq seen are skipped).
  Status StreamEvents(const std::string& task_id, int64_t after_seq, const EventCallback& on_event,
                      const std::stop_token& stop = {});

  // POST /v1/tasks/{id}/cancel.
  Result<CancelResult> Cancel(const std::string& task_id, const std::stop_token& stop = {});

  // GET /v1/tasks: the caller's tasks, newest first, one page.
  Result<TaskPage> List(const ListOptions& options = {}, const std::stop_token& stop = {});

  // GET /v1/tasks/{id}/outputs/{index}: the image's bytes.
  Result<std::string> DownloadOutput(const std::string& task_id, int index,
                                     const std::stop_token& stop = {});
  // The same, written to `path` (through a temporary file renamed into place).
  Status DownloadOutputTo(const std::string& task_id, int index, const std::string& path,
                          const std::stop_token& stop = {});

  Result<ModelList> Models(const std::stop_token& stop = {});
  Result<QueueFigures> Queue(const std::stop_token& stop = {});
  // GET /v1/workers: the worker registry.
  Result<WorkerList> Workers(const std::stop_token& stop = {});

 private:
  explicit Client(ClientOptions options, ServerUrl server);

  struct Call {
    HttpRequestSpec request;
    Millis extra_timeout{0};  // added to request_timeout (waits)
    size_t max_body_bytes = size_t{4} * 1024 * 1024;
  };
  // Sends with retries; answers the final reply (any status) or a transport error.
  Result<HttpReply> Execute(const Call& call, const std::stop_token& stop);
  // Execute, then maps a non-2xx answer to its Status.
  Result<HttpReply> ExecuteOk(const Call& call, const std::stop_token& stop);
  Result<HttpReply> SendOnce(const Call& call, const std::stop_token& stop);
  HttpRequestSpec Request(std::string method, std::string target) const;

  Result<std::unique_ptr<HttpConnection>> Connection(const std::stop_token& stop, bool& pooled);
  void Release(std::unique_ptr<HttpConnection> connection);

  ClientOptions options_;
  ServerUrl server_;
  Mutex mu_;
  std::vector<std::unique_ptr<HttpConnection>> idle_ GUARDED_BY(mu_);
};

// The Status an error answer stands for (see the file comment); OK for a 2xx.
Status StatusFromReply(const HttpReply& reply);

// Whether a failed call is worth another try: transport errors, 429 and 503.
bool IsRetryable(const Status& status);

// The delay before retry `attempt` (1-based): min(max, initial × 2^(attempt-1)), scaled by a
// random factor in [0.5, 1].
Millis Backoff(int attempt, Millis initial, Millis max);

// A Retry-After value in seconds ("120"); nullopt for a date or garbage. A value past what
// Millis counts reads as Millis::max() (a wait no client takes).
std::optional<Millis> ParseRetryAfter(std::string_view value);

}  // namespace stipple::client
