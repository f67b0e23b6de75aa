#include "worker/remote_work_source.h"

#include <algorithm>
#include <boost/json.hpp>
#include <random>

#include "common/log.h"

namespace stipple {
namespace {

// A non-200 answer as a Status: the problem document's detail, under the code its HTTP status
// stands for.
Status AnswerStatus(const GatewayReply& reply) {
  std::string detail = "HTTP " + std::to_string(reply.status);
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(reply.body, ec);
  if (!ec && v.is_object()) {
    if (const boost::json::value* d = v.as_object().if_contains("detail"); d && d->is_string()) {
      detail += ": " + std::string(d->get_string());
    }
  }
  switch (reply.status) {
    case 400: return InvalidArgumentError("the gateway refused the exchange: " + detail);
    case 401:
      return Status(StatusCode::kUnauthenticated, "the gateway refused the token: " + detail);
    case 403: return Status(StatusCode::kPermissionDenied, detail);
    case 404: return UnimplementedError("the gateway has no worker endpoint: " + detail);
    default: return UnavailableError("the gateway answered " + detail);
  }
}

bool IsHelloRequired(const GatewayReply& reply) {
  return reply.status == 409 && reply.body.find(wire::kHelloRequired) != std::string::npos;
}

bool LeaseLost(const Status& status) {
  return status.code() == StatusCode::kAborted || status.code() == StatusCode::kNotFound;
}

}  // namespace

Result<std::unique_ptr<RemoteWorkSource>> RemoteWorkSource::Create(
    RemoteWorkSourceOptions options) {
  std::vector<GatewayAddress> addresses;
  ASSIGN_OR_RETURN(GatewayAddress first, ParseGatewayUrl(options.gateway_url));
  addresses.push_back(std::move(first));
  for (const std::string& url : options.other_gateways) {
    ASSIGN_OR_RETURN(GatewayAddress other, ParseGatewayUrl(url));
    addresses.push_back(std::move(other));
  }
  if (options.token.empty()) {
    return InvalidArgumentError("a worker needs a token (--token)", {{"token", "empty"}});
  }
  return std::unique_ptr<RemoteWorkSource>(
      new RemoteWorkSource(std::move(options), std::move(addresses)));
}

RemoteWorkSource::RemoteWorkSource(RemoteWorkSourceOptions options,
                                   std::vector<GatewayAddress> addresses)
    : options_(std::move(options)) {
  urls_.push_back(options_.gateway_url);
  urls_.insert(urls_.end(), options_.other_gateways.begin(), options_.other_gateways.end());
  for (GatewayAddress& address : addresses) {
    connections_.push_back(std::make_unique<GatewayConnection>(std::move(address), options_.token,
                                                               options_.connect_timeout));
  }
  thread_ = std::thread([this] { ConnectionLoop(); });
}

RemoteWorkSource::~RemoteWorkSource() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  wake_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int RemoteWorkSource::exchanges() const {
  MutexLock lock(mu_);
  return exchanges_;
}

int RemoteWorkSource::reconnects() const {
  MutexLock lock(mu_);
  return std::max(0, connects_ - 1);
}

int RemoteWorkSource::failovers() const {
  MutexLock lock(mu_);
  return failovers_;
}

std::string RemoteWorkSource::current_gateway() const {
  MutexLock lock(mu_);
  return urls_[current_];
}

void RemoteWorkSource::Submit(const CallPtr& call) { SubmitAll({call}); }

void RemoteWorkSource::SubmitAll(const std::vector<CallPtr>& calls) {
  MutexLock lock(mu_);
  for (const CallPtr& call : calls) {
    if (stopping_) {
      call->done = true;
      call->status = UnavailableError("the worker's connection is stopping");
      continue;
    }
    if (call->kind == CallKind::kMessage) call->message.seq = next_seq_++;
    calls_.push_back(call);
  }
  wake_cv_.notify_all();  // once: the calls go in the same exchange
  done_cv_.wait(lock.native(), [&]() REQUIRES(mu_) {
    return std::all_of(calls.begin(), calls.end(),
                       [](const CallPtr& c) { return c->done || !c->wait_for_reply; });
  });
}

Status RemoteWorkSource::Register(const WorkerInfo& worker) {
  {
    MutexLock lock(mu_);
    hello_ = worker;
    hello_needed_ = true;
  }
  auto call = std::make_shared<Call>();
  call->kind = CallKind::kHello;
  call->give_up = Steady::now() + options_.report_timeout;
  Submit(call);
  return call->status;
}

void RemoteWorkSource::Unregister(const std::string&) {
  auto call = std::make_shared<Call>();
  call->kind = CallKind::kGoodbye;
  call->give_up = Steady::now() + options_.heartbeat_timeout;
  Submit(call);
}

Result<std::vector<LeasedTask>> RemoteWorkSource::Lease(const LeaseRequest& request) {
  auto call = std::make_shared<Call>();
  call->kind = CallKind::kAsk;
  call->ask.models = request.models;
  call->ask.max_tasks = request.max_tasks;
  call->ask.lease_duration = request.lease_duration;
  call->ask.wait = request.wait;
  call->ask_end = Steady::now() + request.wait;
  call->give_up = call->ask_end;
  Submit(call);
  if (!call->status.ok()) return call->status;
  return std::move(call->leased);
}

Result<HeartbeatReply> RemoteWorkSource::Heartbeat(const std::string& task_id, uint64_t fencing,
                                                   Millis lease_duration,
                                                   std::optional<TaskProgress> progress) {
  auto call = std::make_shared<Call>();
  call->message.type = wire::MessageType::kHeartbeat;
  call->message.task_id = task_id;
  call->message.fencing = fencing;
  call->message.lease_duration = lease_duration;
  call->message.progress = progress;
  call->give_up = Steady::now() + options_.heartbeat_timeout;
  Submit(call);
  if (!call->status.ok()) return call->status;
  if (!call->reply.heartbeat) return InternalError("the gateway's heartbeat reply has no lease");
  return *call->reply.heartbeat;
}

Status RemoteWorkSource::Progress(const std::string& task_id, uint64_t fencing,
                                  TaskProgress progress, std::string preview_png) {
  std::vector<ProgressReport> one;
  one.push_back({task_id, fencing, progress, std::move(preview_png)});
  return ProgressBatch(std::move(one)).front();
}

std::vector<Status> RemoteWorkSource::ProgressBatch(std::vector<ProgressReport> reports) {
  std::vector<Status> statuses(reports.size(), Status::Ok());
  std::vector<CallPtr> fresh;
  {
    MutexLock lock(mu_);
    for (size_t i = 0; i < reports.size(); ++i) {
      ProgressReport& r = reports[i];
      auto lost = lost_.find(r.task_id);
      if (lost != lost_.end() && lost->second == r.fencing) {
        statuses[i] = AbortedError("lease lost: task " + r.task_id);
        continue;
      }
      bool replaced = false;
      for (const CallPtr& c : calls_) {  // an unsent progress of this lease: replace it
        if (c->kind == CallKind::kMessage && !c->in_flight &&
            c->message.type == wire::MessageType::kProgress && c->message.task_id == r.task_id &&
            c->message.fencing == r.fencing) {
          c->message.progress = r.progress;
          if (!r.preview_png.empty()) c->message.preview_png = std::move(r.preview_png);
          replaced = true;
          break;
        }
      }
      if (replaced) continue;
      auto call = std::make_shared<Call>();
      call->wait_for_reply = false;
      call->message.type = wire::MessageType::kProgress;
      call->message.task_id = r.task_id;
      call->message.fencing = r.fencing;
      call->message.progress = r.progress;
      call->message.preview_png = std::move(r.preview_png);
      call->give_up = Steady::now() + options_.heartbeat_timeout;
      fresh.push_back(std::move(call));
    }
  }
  if (!fresh.empty()) SubmitAll(fresh);
  return statuses;
}

Result<Task> RemoteWorkSource::Report(wire::WorkerMessage message) {
  auto call = std::make_shared<Call>();
  call->message = std::move(message);
  call->give_up = Steady::now() + options_.report_timeout;
  Submit(call);
  return Answered(*call);
}

Result<Task> RemoteWorkSource::Answered(const Call& call) {
  if (!call.status.ok()) return call.status;
  Task task;
  task.id = call.message.task_id;
  task.fencing = call.message.fencing;
  task.state = call.reply.state.value_or(TaskState::kRunning);
  return task;
}

Result<Task> RemoteWorkSource::Complete(const std::string& task_id, uint64_t fencing,
                                        std::vector<GeneratedImage> images) {
  std::vector<TaskImages> one;
  one.push_back({task_id, fencing, std::move(images)});
  return std::move(CompleteBatch(std::move(one)).front());
}

std::vector<Result<Task>> RemoteWorkSource::CompleteBatch(std::vector<TaskImages> batch) {
  std::vector<CallPtr> calls;
  calls.reserve(batch.size());
  const auto give_up = Steady::now() + options_.report_timeout;
  for (TaskImages& t : batch) {
    auto call = std::make_shared<Call>();
    call->message.type = wire::MessageType::kComplete;
    call->message.task_id = std::move(t.task_id);
    call->message.fencing = t.fencing;
    call->message.images = std::move(t.images);
    call->give_up = give_up;
    calls.push_back(std::move(call));
  }
  SubmitAll(calls);
  std::vector<Result<Task>> results;
  results.reserve(calls.size());
  for (const CallPtr& call : calls) results.push_back(Answered(*call));
  return results;
}

Result<Task> RemoteWorkSource::Fail(const Failure& failure) {
  wire::WorkerMessage m;
  m.type = wire::MessageType::kFail;
  m.task_id = failure.task_id;
  m.fencing = failure.fencing;
  m.error = failure.error;
  m.failure_kind = failure.kind;
  m.retry_after = failure.retry_after;
  return Report(std::move(m));
}

Result<Task> RemoteWorkSource::Release(const std::string& task_id, uint64_t fencing) {
  wire::WorkerMessage m;
  m.type = wire::MessageType::kRelease;
  m.task_id = task_id;
  m.fencing = fencing;
  return Report(std::move(m));
}

Result<Task> RemoteWorkSource::MarkCanceled(const std::string& task_id, uint64_t fencing) {
  wire::WorkerMessage m;
  m.type = wire::MessageType::kCanceled;
  m.task_id = task_id;
  m.fencing = fencing;
  return Report(std::move(m));
}

Result<std::string> RemoteWorkSource::GetInput(const std::string& sha256_hex) {
  size_t first = 0;
  {
    MutexLock lock(mu_);
    first = current_;
  }
  const std::string body = boost::json::serialize(boost::json::object{{"sha256", sha256_hex}});
  Status last = UnavailableError("no gateway to ask for input " + sha256_hex);
  for (size_t k = 0; k < connections_.size(); ++k) {
    // address() never changes: reading it off the connection thread is safe.
    const size_t i = (first + k) % connections_.size();
    GatewayConnection connection(connections_[i]->address(), options_.token,
                                 options_.connect_timeout);
    Result<GatewayReply> reply = connection.Post(wire::kInputPath, body, options_.report_timeout);
    if (!reply.ok()) {
      last = reply.status();
      continue;
    }
    if (reply->status == 200) return std::move(reply->body);
    if (reply->status == 404) return NotFoundError("no image input " + sha256_hex);
    const std::string what = "input " + sha256_hex + ": gateway " + urls_[i] + " answered HTTP " +
                             std::to_string(reply->status);
    if (reply->status < 500) return InternalError(what);
    last = UnavailableError(what);
  }
  return last;
}

void RemoteWorkSource::Finish(const CallPtr& call, Status status) {
  call->done = true;
  call->status = std::move(status);
  calls_.erase(std::remove(calls_.begin(), calls_.end(), call), calls_.end());
  done_cv_.notify_all();
}

void RemoteWorkSource::GiveUpLate(Steady::time_point now) {
  std::vector<CallPtr> late;
  for (const CallPtr& c : calls_) {
    if (!c->in_flight && now >= c->give_up) late.push_back(c);
  }
  for (const CallPtr& c : late) {
    if (c->kind == CallKind::kAsk) {
      Finish(c, Status::Ok());  // the wait ended with nothing leased
    } else {
      Finish(c, UnavailableError("no reply from the gateway in time"));
    }
  }
}

bool RemoteWorkSource::Due(Steady::time_point now, Steady::time_point* wake) const {
  bool due = false;
  for (const CallPtr& c : calls_) {
    *wake = std::min(*wake, c->give_up);
    if (c->kind != CallKind::kAsk) {
      due = true;
    } else if (held_.empty() || now >= next_busy_ask_) {
      due = true;
    } else {
      *wake = std::min(*wake, next_busy_ask_);
    }
  }
  return due;
}

void RemoteWorkSource::NoteLost(const std::string& task_id, uint64_t fencing,
                                const Status& status) {
  if (!LeaseLost(status)) return;
  auto it = held_.find(task_id);
  if (it != held_.end() && it->second == fencing) held_.erase(it);
  lost_[task_id] = fencing;
  if (lost_.size() > 4096) lost_.erase(lost_.begin());
}

void RemoteWorkSource::Answer(const wire::ExchangeResponse& response,
                              const std::vector<CallPtr>& sent, Steady::time_point now) {
  std::map<int64_t, const wire::MessageReply*> replies;
  for (const wire::MessageReply& r : response.replies) replies[r.seq] = &r;
  for (const CallPtr& c : sent) {
    switch (c->kind) {
      case CallKind::kHello:
      case CallKind::kGoodbye: Finish(c, Status::Ok()); break;
      case CallKind::kMessage: {
        auto it = replies.find(c->message.seq);
        if (it == replies.end()) {
          Finish(c, InternalError("the gateway did not answer message " +
                                  std::to_string(c->message.seq)));
          break;
        }
        const wire::MessageReply& reply = *it->second;
        acked_ = std::max(acked_, reply.seq);
        c->reply = reply;
        const wire::WorkerMessage& m = c->message;
        if (m.type == wire::MessageType::kHeartbeat || m.type == wire::MessageType::kProgress) {
          NoteLost(m.task_id, m.fencing, reply.status);
        } else {  // a final report: the task is no longer this worker's, whatever the answer
          auto held = held_.find(m.task_id);
          if (held != held_.end() && held->second == m.fencing) held_.erase(held);
        }
        Finish(c, reply.status);
        break;
      }
      case CallKind::kAsk: {
        if (!response.lease_status.ok()) {
          Finish(c, response.lease_status);
          break;
        }
        for (const LeasedTask& t : response.leases) {
          held_[t.task.id] = t.task.fencing;
          c->leased.push_back(t);
        }
        if (!c->leased.empty() || now >= c->ask_end) {
          Finish(c, Status::Ok());
        } else {
          next_busy_ask_ = now + options_.busy_ask_interval;
        }
        break;
      }
    }
  }
}

void RemoteWorkSource::ConnectionLoop() {
  std::minstd_rand jitter(std::random_device{}());
  Millis backoff = options_.reconnect_min;
  bool failing = false;
  MutexLock lock(mu_);
  while (true) {
    while (!stopping_) {
      const auto now = Steady::now();
      GiveUpLate(now);
      auto wake = now + std::chrono::seconds(1);
      if (Due(now, &wake)) break;
      wake_cv_.wait_until(lock.native(), wake);
    }
    if (stopping_) break;
    if (!hello_) {  // nothing may go before Register
      std::vector<CallPtr> early(calls_.begin(), calls_.end());
      for (const CallPtr& c : early) Finish(c, FailedPreconditionError("Register first"));
      continue;
    }
    wire::ExchangeRequest request;
    request.worker_id = hello_->id;
    if (hello_needed_) request.hello = *hello_;
    request.ack = acked_;
    std::vector<CallPtr> sent;
    CallPtr ask;
    bool waits_for_reply = request.hello.has_value();
    for (const CallPtr& c : calls_) {
      if (c->kind == CallKind::kAsk) {
        if (!ask) ask = c;
        continue;
      }
      if (c->kind == CallKind::kMessage) request.messages.push_back(c->message);
      if (c->kind == CallKind::kGoodbye) request.goodbye = true;
      if (c->wait_for_reply) waits_for_reply = true;
      sent.push_back(c);
    }
    const auto now = Steady::now();
    Millis hold{0};
    if (ask) {
      request.lease = ask->ask;
      // Long-poll only while nothing else waits for this exchange's answer.
      if (!waits_for_reply && held_.empty() && ask->ask_end > now) {
        hold = std::chrono::ceil<Millis>(ask->ask_end - now);
      }
      request.lease->wait = hold;
      sent.push_back(ask);
    }
    for (const CallPtr& c : sent) c->in_flight = true;
    const std::string body = wire::EncodeRequest(request);
    GatewayConnection& connection = *connections_[current_];  // only this thread changes current_
    lock.Unlock();
    Result<GatewayReply> reply =
        connection.Post(wire::kExchangePath, body, hold + options_.request_timeout);
    lock.Lock();
    connects_ = 0;
    for (const auto& c : connections_) connects_ += c->connects();
    for (const CallPtr& c : sent) c->in_flight = false;
    const bool transient = !reply.ok() || reply->status >= 500;
    if (transient) {
      const std::string error =
          reply.ok() ? AnswerStatus(*reply).ToString() : reply.status().ToString();
      connection.Close();
      if (connections_.size() > 1) {  // fail over: the next gateway, in turn
        current_ = (current_ + 1) % connections_.size();
        ++failovers_;
        if (!failing) {
          LogWarn("gateway unreachable; trying the next one",
                  {{"error", error}, {"next", urls_[current_]}});
        }
      } else if (!failing) {
        LogWarn("gateway unreachable; reconnecting", {{"error", error}});
      }
      failing = true;
      const auto pause = backoff / 2 + Millis(jitter() % (backoff.count() / 2 + 1));
      wake_cv_.wait_for(lock.native(), pause, [&]() REQUIRES(mu_) { return stopping_; });
      backoff = std::min(options_.reconnect_max, backoff * 2);
      continue;
    }
    if (failing) LogInfo("gateway reachable again", {{"gateway", urls_[current_]}});
    failing = false;
    backoff = options_.reconnect_min;
    if (IsHelloRequired(*reply)) {  // none of it was applied: say hello and send it again
      hello_needed_ = true;
      continue;
    }
    if (reply->status != 200) {
      Status refused = AnswerStatus(*reply);
      for (const CallPtr& c : sent) Finish(c, refused);
      continue;
    }
    Result<wire::ExchangeResponse> response = wire::DecodeResponse(reply->body);
    if (!response.ok()) {
      Status bad =
          InternalError("the gateway's answer is malformed: " + response.status().message());
      for (const CallPtr& c : sent) Finish(c, bad);
      continue;
    }
    ++exchanges_;
    if (request.hello) hello_needed_ = false;
    Answer(*response, sent, Steady::now());
  }
  std::vector<CallPtr> rest(calls_.begin(), calls_.end());
  for (const CallPtr& c : rest) Finish(c, UnavailableError("the worker's connection stopped"));
}

}  // namespace stipple
