// POST /v1/worker/exchange: the gateway's end of the worker protocol (worker_protocol.h).

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <list>
#include <map>
#include <mutex>
#include <span>
#include <thread>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "api/worker_protocol.h"
#include "common/digest.h"
#include "common/log.h"
#include "common/thread_annotations.h"
#include "http/problem.h"
#include "service/worker_wire.h"

namespace stipple::http {
namespace {

HttpResponse Refuse(int status, std::string type, std::string title, std::string detail) {
  return ProblemResponse({status, std::move(type), std::move(title), std::move(detail), {}, {}});
}

HttpResponse Answer(const wire::ExchangeResponse& response) {
  return JsonResponse(200, wire::EncodeResponse(response));
}

}  // namespace

// Threads (worker_protocol.h): Handle and HandleInput are called on a connection's strand and run
// the exchange on the blocking-call pool; a held ask waits on a thread of its own (threads_), the
// janitor on another; Stop and held_asks() come from any thread. sessions_mu_ guards the sessions
// (and their counters), mu_ the held-ask threads and stopping, Session::mu one worker's exchanges.
class WorkerProtocol::Impl {
 public:
  Impl(WorkSource& source, BlockingCalls& calls, WorkerProtocolOptions options);
  ~Impl();
  void Handle(HttpRequest& request, std::shared_ptr<Exchange> exchange);
  // POST /v1/worker/input: WorkSource::GetInput's bytes.
  void HandleInput(HttpRequest& request, std::shared_ptr<Exchange> exchange);
  void Stop();
  int held_asks() const;

 private:
  struct Session {
    Mutex mu;  // serializes this worker's exchanges
    bool hello GUARDED_BY(mu) = false;
    int64_t last_seq GUARDED_BY(mu) = 0;
    std::map<int64_t, wire::MessageReply> replies GUARDED_BY(mu);  // unacknowledged
    // Guarded by the handler's sessions_mu_ (a nested struct cannot name it for the analysis).
    uint64_t generation = 0;  // exchanges seen
    int held = 0;
    std::chrono::steady_clock::time_point last_seen;
    Millis longest_lease{0};
  };
  struct HeldAsk;

  bool Authorized(const HttpRequest& request) const;
  // The exchange's reports, hello, goodbye and first lease try, on the blocking-call pool; the
  // answer (or the held ask) goes to the exchange's strand.
  void Apply(wire::ExchangeRequest req, std::shared_ptr<Session> session, uint64_t generation,
             std::shared_ptr<Exchange> exchange);
  wire::MessageReply ApplyMessage(const wire::WorkerMessage& message);
  // A run of messages of one type, each new: consecutive completions go in one
  // WorkSource::CompleteBatch, consecutive progress reports in one ProgressBatch; any other
  // message alone. One reply per message, in order.
  std::vector<wire::MessageReply> ApplyMessages(std::span<const wire::WorkerMessage> run);
  void Hold(std::shared_ptr<Session> session, uint64_t generation, std::string worker_id,
            LeaseRequest request, wire::ExchangeResponse response,
            std::shared_ptr<Exchange> exchange);
  void ReleaseAll(const std::vector<LeasedTask>& tasks);
  void JanitorLoop();
  void ReapThreads() REQUIRES(mu_);

  WorkSource& source_;
  BlockingCalls& calls_;
  const WorkerProtocolOptions options_;
  std::vector<Sha256Digest> token_digests_;

  Mutex sessions_mu_;
  std::map<std::string, std::shared_ptr<Session>> sessions_ GUARDED_BY(sessions_mu_);

  mutable Mutex mu_;
  std::condition_variable cv_;
  bool stopping_ GUARDED_BY(mu_) = false;
  int held_ GUARDED_BY(mu_) = 0;
  std::list<std::thread> threads_ GUARDED_BY(mu_);
  std::vector<std::thread::id> finished_ GUARDED_BY(mu_);
  std::thread janitor_;
};

// One held lease ask's answer state; touched on the exchange's strand only.
struct WorkerProtocol::Impl::HeldAsk {
  bool answered = false;
  wire::ExchangeResponse response;  // the replies, waiting for the leases
};

WorkerProtocol::WorkerProtocol(WorkSource& source, BlockingCalls& calls,
                               WorkerProtocolOptions options)
    : impl_(std::make_unique<Impl>(source, calls, std::move(options))) {}

WorkerProtocol::~WorkerProtocol() = default;  // ~Impl stops and joins

void WorkerProtocol::Stop() { impl_->Stop(); }

int WorkerProtocol::held_asks() const { return impl_->held_asks(); }

WorkerProtocol::Impl::Impl(WorkSource& source, BlockingCalls& calls, WorkerProtocolOptions options)
    : source_(source), calls_(calls), options_(std::move(options)) {
  for (const std::string& token : options_.tokens) token_digests_.push_back(Sha256(token));
  janitor_ = std::thread([this] { JanitorLoop(); });
}

WorkerProtocol::Impl::~Impl() {
  Stop();
  if (janitor_.joinable()) janitor_.join();
  std::list<std::thread> threads;
  {
    MutexLock lock(mu_);
    threads = std::move(threads_);
  }
  for (std::thread& t : threads) t.join();
}

void WorkerProtocol::Impl::Stop() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
}

int WorkerProtocol::Impl::held_asks() const {
  MutexLock lock(mu_);
  return held_;
}

void WorkerProtocol::AddRoutes(RouteTable& routes) {
  routes.Add(
      {"POST",
       std::string(wire::kExchangePath),
       "workerExchange",
       "Worker protocol: reports in, leases out (long poll); needs a worker token",
       "workers",
       false,  // a worker token, not an API key: checked by the handler
       {},
       {},
       "",
       {{200, "Replies to the reports and the leased tasks", "application/json", ""},
        ResponseSpec{400, "Malformed exchange; errors name the fields", "application/problem+json",
                     "Problem"},
        ResponseSpec{401, "Missing or unknown worker token", "application/problem+json", "Problem"},
        ResponseSpec{409, "hello_required: send the hello again", "application/problem+json",
                     "Problem"}},
       [impl = impl_.get()](HttpRequest& request, std::shared_ptr<Exchange> exchange) {
         impl->Handle(request, std::move(exchange));
       }});
  routes.Add(
      {"POST",
       std::string(wire::kInputPath),
       "workerInput",
       "Worker protocol: a leased task's image input by its SHA-256; needs a worker token",
       "workers",
       false,  // a worker token, not an API key: checked by the handler
       {},
       {},
       "",
       {{200, "The input's bytes", "application/octet-stream", ""},
        ResponseSpec{400, "Not a {\"sha256\": \"<64 hex>\"} body", "application/problem+json",
                     "Problem"},
        ResponseSpec{401, "Missing or unknown worker token", "application/problem+json", "Problem"},
        ResponseSpec{404, "No such input", "application/problem+json", "Problem"}},
       [impl = impl_.get()](HttpRequest& request, std::shared_ptr<Exchange> exchange) {
         impl->HandleInput(request, std::move(exchange));
       }});
}

void WorkerProtocol::Impl::HandleInput(HttpRequest& request, std::shared_ptr<Exchange> exchange) {
  if (!Authorized(request)) {
    HttpResponse r = Refuse(401, "unauthenticated", "missing or unknown worker token",
                            "Authorization: Bearer must carry a worker token");
    r.headers.Set("WWW-Authenticate", "Bearer");
    return exchange->Respond(std::move(r));
  }
  boost::system::error_code ec;
  boost::json::value body = boost::json::parse(request.body, ec);
  const boost::json::value* sha =
      !ec && body.is_object() ? body.as_object().if_contains("sha256") : nullptr;
  if (sha == nullptr || !sha->is_string()) {
    return exchange->Respond(
        ErrorResponse(InvalidArgumentError("invalid input request", {{"sha256", "is required"}})));
  }
  // A result-store read: off the I/O thread.
  calls_.Run([this, sha256 = std::string(sha->as_string()), exchange = std::move(exchange)] {
    Result<std::string> bytes = source_.GetInput(sha256);
    HttpResponse r;
    if (bytes.ok()) {
      r.headers.Set("Content-Type", "application/octet-stream");
      r.body = std::move(*bytes);
    } else {
      r = ErrorResponse(bytes.status());
    }
    exchange->Post([exchange, r = std::move(r)] { exchange->Respond(r); });
  });
}

bool WorkerProtocol::Impl::Authorized(const HttpRequest& request) const {
  std::optional<std::string_view> header = request.headers.Get("Authorization");
  if (!header || token_digests_.empty()) return false;
  std::string_view value = *header;
  constexpr std::string_view kBearer = "Bearer ";
  if (value.size() <= kBearer.size() || value.substr(0, kBearer.size()) != kBearer) return false;
  const Sha256Digest digest = Sha256(value.substr(kBearer.size()));
  bool match = false;
  for (const auto& d : token_digests_) {  // every digest, so timing says nothing
    match |= ConstantTimeEqual(d, digest);
  }
  return match;
}

void WorkerProtocol::Impl::Handle(HttpRequest& request, std::shared_ptr<Exchange> exchange) {
  if (!Authorized(request)) {
    HttpResponse r = Refuse(401, "unauthenticated", "missing or unknown worker token",
                            token_digests_.empty()
                                ? "this gateway accepts no workers: start it with --worker-token"
                                : "Authorization: Bearer must carry a worker token");
    r.headers.Set("WWW-Authenticate", "Bearer");
    return exchange->Respond(std::move(r));
  }
  Result<wire::ExchangeRequest> decoded = wire::DecodeRequest(request.body);
  if (!decoded.ok()) return exchange->Respond(ErrorResponse(decoded.status()));
  wire::ExchangeRequest& req = *decoded;

  std::shared_ptr<Session> session;
  uint64_t generation = 0;
  {
    MutexLock lock(sessions_mu_);
    std::shared_ptr<Session>& s = sessions_[req.worker_id];
    if (!s) s = std::make_shared<Session>();
    session = s;
    generation = ++s->generation;  // a held ask of an older exchange is superseded
    s->last_seen = std::chrono::steady_clock::now();
  }
  {
    Millis lease = req.lease ? req.lease->lease_duration : Millis(0);
    for (const wire::WorkerMessage& m : req.messages) lease = std::max(lease, m.lease_duration);
    MutexLock lock(sessions_mu_);
    session->longest_lease = std::max(session->longest_lease, lease);
  }
  // A completion writes the images and commits; a report may wait on the store: off the I/O
  // thread (blocking_calls.h).
  calls_.Run([this, req = std::move(req), session = std::move(session), generation,
              exchange = std::move(exchange)]() mutable {
    LogContext log_context({{"request_id", exchange->request_id()}});
    Apply(std::move(req), std::move(session), generation, std::move(exchange));
  });
}

void WorkerProtocol::Impl::Apply(wire::ExchangeRequest req, std::shared_ptr<Session> session,
                                 uint64_t generation, std::shared_ptr<Exchange> exchange) {
  auto respond = [&exchange](HttpResponse r) {
    exchange->Post([exchange, r = std::move(r)] { exchange->Respond(r); });
  };
  wire::ExchangeResponse response;
  {
    MutexLock lock(session->mu);
    if (req.hello) {
      if (Status st = source_.Register(*req.hello); !st.ok()) return respond(ErrorResponse(st));
      // A hello starts a worker process's numbering afresh.
      session->hello = true;
      session->last_seq = 0;
      session->replies.clear();
    } else if (!session->hello) {
      return respond(Refuse(409, std::string(wire::kHelloRequired), "hello required",
                            "this gateway has no hello of worker " + req.worker_id +
                                "; send it with the same messages"));
    }
    session->replies.erase(session->replies.begin(), session->replies.upper_bound(req.ack));
    const std::vector<wire::WorkerMessage>& messages = req.messages;
    for (size_t i = 0; i < messages.size();) {
      const wire::WorkerMessage& message = messages[i];
      if (auto cached = session->replies.find(message.seq); cached != session->replies.end()) {
        response.replies.push_back(cached->second);  // resent after a reconnect: not again
        ++i;
        continue;
      }
      if (message.seq <= session->last_seq) {
        wire::MessageReply reply;
        reply.seq = message.seq;
        reply.status = FailedPreconditionError("message " + std::to_string(message.seq) +
                                               " is out of order: messages up to " +
                                               std::to_string(session->last_seq) + " were applied");
        response.replies.push_back(std::move(reply));
        ++i;
        continue;
      }
      // A run of new completions (or progress reports) is applied together: a worker's batch.
      size_t end = i + 1;
      if (message.type == wire::MessageType::kComplete ||
          message.type == wire::MessageType::kProgress) {
        while (end < messages.size() && messages[end].type == message.type &&
               messages[end].seq > messages[end - 1].seq) {
          ++end;
        }
      }
      for (wire::MessageReply& reply :
           ApplyMessages(std::span<const wire::WorkerMessage>(messages).subspan(i, end - i))) {
        session->last_seq = reply.seq;
        session->replies[reply.seq] = reply;
        response.replies.push_back(std::move(reply));
      }
      while (session->replies.size() > options_.max_unacked_replies) {
        session->replies.erase(session->replies.begin());
      }
      i = end;
    }
    if (req.goodbye) {
      source_.Unregister(req.worker_id);
      session->hello = false;
    }
  }
  if (!req.lease || req.goodbye) return respond(Answer(response));

  LeaseRequest lease;
  lease.worker_id = req.worker_id;
  lease.models = req.lease->models;
  lease.max_tasks = req.lease->max_tasks;
  lease.lease_duration = req.lease->lease_duration;
  lease.wait = Millis(0);  // first without waiting
  Result<std::vector<LeasedTask>> leased = source_.Lease(lease);
  if (!leased.ok()) {
    response.lease_status = leased.status();
    return respond(Answer(response));
  }
  const Millis wait = std::min(req.lease->wait, options_.max_hold);
  if (!leased->empty() || wait <= Millis(0)) {
    response.leases = std::move(leased).value();
    return respond(Answer(response));
  }
  lease.wait = wait;
  exchange->Post([this, session = std::move(session), generation, worker_id = req.worker_id,
                  lease = std::move(lease), response = std::move(response), exchange]() mutable {
    Hold(std::move(session), generation, std::move(worker_id), std::move(lease),
         std::move(response), std::move(exchange));
  });
}

std::vector<wire::MessageReply> WorkerProtocol::Impl::ApplyMessages(
    std::span<const wire::WorkerMessage> run) {
  std::vector<wire::MessageReply> replies(run.size());
  for (size_t k = 0; k < run.size(); ++k) replies[k].seq = run[k].seq;
  if (run.size() > 1 && run.front().type == wire::MessageType::kComplete) {
    std::vector<TaskImages> batch;
    for (const wire::WorkerMessage& m : run) batch.push_back({m.task_id, m.fencing, m.images});
    std::vector<Result<Task>> done = source_.CompleteBatch(std::move(batch));
    for (size_t k = 0; k < run.size() && k < done.size(); ++k) {
      replies[k].status = done[k].status();
      if (done[k].ok()) replies[k].state = done[k]->state;
    }
    return replies;
  }
  if (run.size() > 1 && run.front().type == wire::MessageType::kProgress) {
    std::vector<ProgressReport> reports;
    for (const wire::WorkerMessage& m : run) {
      reports.push_back({m.task_id, m.fencing, m.progress.value_or(TaskProgress{}), m.preview_png});
    }
    std::vector<Status> statuses = source_.ProgressBatch(std::move(reports));
    for (size_t k = 0; k < run.size() && k < statuses.size(); ++k) replies[k].status = statuses[k];
    return replies;
  }
  for (size_t k = 0; k < run.size(); ++k) replies[k] = ApplyMessage(run[k]);
  return replies;
}

wire::MessageReply WorkerProtocol::Impl::ApplyMessage(const wire::WorkerMessage& m) {
  wire::MessageReply reply;
  reply.seq = m.seq;
  auto take = [&reply](const Result<Task>& r) {
    reply.status = r.status();
    if (r.ok()) reply.state = r->state;
  };
  switch (m.type) {
    case wire::MessageType::kHeartbeat: {
      Result<HeartbeatReply> r =
          source_.Heartbeat(m.task_id, m.fencing, m.lease_duration, m.progress);
      reply.status = r.status();
      if (r.ok()) reply.heartbeat = *r;
      break;
    }
    case wire::MessageType::kProgress:
      reply.status = source_.Progress(m.task_id, m.fencing, m.progress.value_or(TaskProgress{}),
                                      m.preview_png);
      break;
    case wire::MessageType::kComplete:
      take(source_.Complete(m.task_id, m.fencing, m.images));
      break;
    case wire::MessageType::kFail: {
      Failure failure;
      failure.task_id = m.task_id;
      failure.fencing = m.fencing;
      failure.error = m.error;
      failure.kind = m.failure_kind;
      failure.retry_after = m.retry_after;
      take(source_.Fail(failure));
      break;
    }
    case wire::MessageType::kRelease: take(source_.Release(m.task_id, m.fencing)); break;
    case wire::MessageType::kCanceled: take(source_.MarkCanceled(m.task_id, m.fencing)); break;
  }
  return reply;
}

void WorkerProtocol::Impl::Hold(std::shared_ptr<Session> session, uint64_t generation,
                                std::string worker_id, LeaseRequest request,
                                wire::ExchangeResponse response,
                                std::shared_ptr<Exchange> exchange) {
  auto held = std::make_shared<HeldAsk>();
  held->response = std::move(response);
  // The server stops: answer with the replies alone (what is leased later is released).
  exchange->OnAbort([held, exchange] {
    if (held->answered) return;
    held->answered = true;
    exchange->Respond(Answer(held->response));
  });
  {
    MutexLock lock(sessions_mu_);
    ++session->held;
  }
  MutexLock lock(mu_);
  ReapThreads();
  if (stopping_) {
    {
      MutexLock sessions_lock(sessions_mu_);
      --session->held;
    }
    exchange->Post([held, exchange] {
      if (held->answered) return;
      held->answered = true;
      exchange->Respond(Answer(held->response));
    });
    return;
  }
  ++held_;
  threads_.emplace_back([this, session, generation, worker_id, request, held, exchange] {
    Result<std::vector<LeasedTask>> leased = source_.Lease(request);
    std::vector<LeasedTask> tasks;
    Status lease_status;
    if (leased.ok()) {
      tasks = std::move(leased).value();
    } else {
      lease_status = leased.status();
    }
    bool superseded;
    {
      MutexLock sessions_lock(sessions_mu_);
      --session->held;
      superseded = session->generation != generation;
      session->last_seen = std::chrono::steady_clock::now();
    }
    bool handed = false;
    {
      MutexLock lock(mu_);
      if (!stopping_ && !superseded) {
        handed = true;
        exchange->Post([this, held, exchange, tasks, lease_status] {
          if (held->answered) {  // the server stopped meanwhile
            calls_.Run([this, tasks] { ReleaseAll(tasks); });
            return;
          }
          held->answered = true;
          held->response.leases = tasks;
          held->response.lease_status = lease_status;
          exchange->Respond(Answer(held->response));
        });
      }
    }
    if (!handed) {
      if (superseded && !tasks.empty()) {
        LogInfo("worker asked again while a held ask was waiting; releasing its late lease",
                {{"worker_id", worker_id}, {"tasks", std::to_string(tasks.size())}});
      }
      ReleaseAll(tasks);
    }
    MutexLock lock(mu_);
    --held_;
    finished_.push_back(std::this_thread::get_id());
  });
}

void WorkerProtocol::Impl::ReleaseAll(const std::vector<LeasedTask>& tasks) {
  for (const LeasedTask& t : tasks) {
    Result<Task> released = source_.Release(t.task.id, t.task.fencing);
    if (!released.ok()) {
      LogWarn("could not release an undelivered lease",
              {{"task_id", t.task.id}, {"error", released.status().ToString()}});
    }
  }
}

void WorkerProtocol::Impl::ReapThreads() {
  for (auto it = threads_.begin(); it != threads_.end();) {
    auto done = std::find(finished_.begin(), finished_.end(), it->get_id());
    if (done == finished_.end()) {
      ++it;
      continue;
    }
    finished_.erase(done);
    it->join();  // it has nothing left to do but return
    it = threads_.erase(it);
  }
}

void WorkerProtocol::Impl::JanitorLoop() {
  MutexLock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock.native(), std::chrono::seconds(1), [&]() REQUIRES(mu_) { return stopping_; });
    if (stopping_) return;
    ReapThreads();
    lock.Unlock();
    std::vector<std::string> silent;
    {
      const auto now = std::chrono::steady_clock::now();
      MutexLock sessions_lock(sessions_mu_);
      for (auto it = sessions_.begin(); it != sessions_.end();) {
        const Millis silence = std::max(options_.silence, it->second->longest_lease / 5);
        if (it->second->held == 0 && it->second->last_seen < now - silence) {
          silent.push_back(it->first);
          it = sessions_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (const std::string& id : silent) {
      LogInfo("worker silent; unregistered", {{"worker_id", id}});
      source_.Unregister(id);
    }
    lock.Lock();
  }
}

}  // namespace stipple::http
