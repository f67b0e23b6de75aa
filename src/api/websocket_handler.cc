// GET /v1/ws: task events and submissions over one WebSocket (docs/http.md, "WebSocket").
//
// Client → server, one JSON object per text frame, each with an optional "ref" (any JSON value,
// echoed on the answer to that message):
//   {"op": "subscribe", "task_ids": [...]}   a task's events, from its first (held) one
//   {"op": "subscribe", "all": true}         live events of every task of the tenant
//   {"op": "unsubscribe", "task_ids": [...]} / {"op": "unsubscribe", "all": true}
//   {"op": "submit", "request": {...}, "idempotency_key": "..."}  creates a task and subscribes
// Server → client: {"type": "subscribed" | "unsubscribed", ...}, {"type": "submitted", "task"},
// every event as {"type": "<event type>", "task_id", "seq", ...}, and {"type": "error", ...}.
#include <algorithm>
#include <boost/json.hpp>
#include <deque>
#include <unordered_map>
#include <unordered_set>

#include "api/handlers.h"
#include "api/websocket_offers.h"
#include "common/log.h"
#include "core/json.h"
#include "core/task_json.h"
#include "http/problem.h"

namespace stipple::http {
namespace {

namespace json = boost::json;

constexpr const char* kSubprotocol = "stipple.v1";
constexpr size_t kMaxTaskIdsPerMessage = 100;
constexpr size_t kRememberedEndedTasks = 1024;  // ended tasks whose late duplicates are dropped

// One socket's session. Everything runs on the connection's strand: the server's calls, and the
// service's callbacks, which only post there (holding a weak reference). Holds the socket's place
// among the open streams (HoldStream) until it closes.
class TaskSocket : public WebSocketSession, public std::enable_shared_from_this<TaskSocket> {
 public:
  TaskSocket(HandlerContext& ctx, Principal principal, std::shared_ptr<WebSocketChannel> channel,
             HeldRequests::Slot slot)
      : ctx_(ctx),
        principal_(std::move(principal)),
        channel_(std::move(channel)),
        slot_(std::move(slot)) {}

  void OnMessage(std::string message, bool binary) override {
    if (closed_) return;
    json::value ref;  // null unless the message gives one
    if (binary) return SendError(ref, "", BadRequest("message", "must be a JSON text frame"));
    boost::system::error_code ec;
    json::value parsed = json::parse(message, ec);
    if (ec || !parsed.is_object()) {
      return SendError(ref, "", BadRequest("message", "must be a JSON object"));
    }
    json::object& m = parsed.as_object();
    if (const json::value* r = m.if_contains("ref")) ref = *r;
    const json::value* op = m.if_contains("op");
    if (op == nullptr || !op->is_string()) {
      return SendError(ref, "", BadRequest("op", "must be subscribe, unsubscribe or submit"));
    }
    std::string name(op->as_string());
    if (name == "subscribe" || name == "unsubscribe") return ChangeSubscriptions(name, m, ref);
    if (name == "submit") return Submit(m, ref);
    SendError(ref, "", BadRequest("op", "must be subscribe, unsubscribe or submit"));
  }

  void OnClose() override {
    if (closed_) return;
    closed_ = true;
    ctx_.metrics.ws_subscriptions -= static_cast<int64_t>(subs_.size()) + (feed_ ? 1 : 0);
    subs_.clear();  // each handle waits for a running callback, which only posts
    feed_.reset();
    slot_.reset();
  }

 private:
  static Status BadRequest(std::string field, std::string message) {
    std::string detail = field + ": " + message;
    return InvalidArgumentError(std::move(detail), {{std::move(field), std::move(message)}});
  }

  // OK when `more` new task subscriptions fit under max_ws_subscriptions (0: no bound), with
  // room kept for the submits in flight (each subscribes to its task).
  Status RoomFor(size_t more) const {
    const int bound = ctx_.options.max_ws_subscriptions;
    if (bound <= 0 || subs_.size() + submitting_ + more <= static_cast<size_t>(bound)) {
      return Status::Ok();
    }
    return ResourceExhaustedError("at most " + std::to_string(bound) +
                                  " task subscriptions per socket (max_ws_subscriptions); "
                                  "this socket holds " +
                                  std::to_string(subs_.size()) +
                                  ": unsubscribe some or open another socket");
  }

  // {"op": "subscribe" | "unsubscribe", "task_ids": [...]} or {..., "all": true}.
  void ChangeSubscriptions(const std::string& op, const json::object& m, const json::value& ref) {
    for (const auto& [key, value] : m) {
      if (key != "op" && key != "ref" && key != "task_ids" && key != "all") {
        return SendError(ref, op, BadRequest(key, "unknown field"));
      }
    }
    const json::value* all = m.if_contains("all");
    const json::value* ids = m.if_contains("task_ids");
    if (all != nullptr && !(all->is_bool() && all->as_bool())) {
      return SendError(ref, op, BadRequest("all", "must be true"));
    }
    if ((all == nullptr) == (ids == nullptr)) {
      return SendError(ref, op, BadRequest("task_ids", "give task_ids or \"all\": true"));
    }
    json::object ack{{"type", op == "subscribe" ? "subscribed" : "unsubscribed"}};
    if (!ref.is_null()) ack["ref"] = ref;
    if (all != nullptr) {
      if (op == "subscribe") {
        if (!feed_) SubscribeFeed();
      } else if (feed_) {
        feed_.reset();
        --ctx_.metrics.ws_subscriptions;
      }
      ack["all"] = true;
      return Send(ack);
    }
    if (!ids->is_array() || ids->as_array().empty() ||
        ids->as_array().size() > kMaxTaskIdsPerMessage) {
      return SendError(
          ref, op,
          BadRequest("task_ids", "must be an array of 1.." + std::to_string(kMaxTaskIdsPerMessage) +
                                     " task ids"));
    }
    if (op == "subscribe") {
      // All of the message's new tasks fit under the bound, or none is subscribed.
      std::unordered_set<std::string_view> fresh;
      for (const json::value& v : ids->as_array()) {
        if (v.is_string() && subs_.count(std::string(v.as_string())) == 0) {
          fresh.insert(v.as_string());
        }
      }
      if (Status room = RoomFor(fresh.size()); !room.ok()) return SendError(ref, op, room);
    }
    json::array done;
    for (const json::value& id_value : ids->as_array()) {
      if (!id_value.is_string()) {
        SendError(ref, op, BadRequest("task_ids", "must hold strings"));
        continue;
      }
      std::string id(id_value.as_string());
      if (op == "unsubscribe") {
        if (subs_.erase(id) > 0) --ctx_.metrics.ws_subscriptions;
        last_seq_.erase(id);
        done.emplace_back(id);
        continue;
      }
      // An explicit subscription replays the task's held events, even ones sent before.
      if (subs_.count(id) == 0) last_seq_.erase(id);
      if (Status s = SubscribeTask(id, /*after_seq=*/0); !s.ok()) {
        SendError(ref, op, s, id);
        continue;
      }
      done.emplace_back(id);
    }
    ack["task_ids"] = std::move(done);
    Send(ack);
  }

  // {"op": "submit", "request": {...}, "idempotency_key": "..."}: POST /v1/tasks's admission,
  // plus the key's rate limit (one token per submit); the new task's events follow.
  void Submit(const json::object& m, const json::value& ref) {
    for (const auto& [key, value] : m) {
      if (key != "op" && key != "ref" && key != "request" && key != "idempotency_key") {
        return SendError(ref, "submit", BadRequest(key, "unknown field"));
      }
    }
    const json::value* request = m.if_contains("request");
    if (request == nullptr || !request->is_object()) {
      return SendError(ref, "submit", BadRequest("request", "must be a generation request object"));
    }
    std::string key;
    if (const json::value* k = m.if_contains("idempotency_key")) {
      if (!k->is_string() || k->as_string().empty() || k->as_string().size() > 255) {
        return SendError(
            ref, "submit",
            BadRequest("idempotency_key", "must be 1..255 printable ASCII characters"));
      }
      key = std::string(k->as_string());
    }
    // The new task is followed: refused before it is created when there is no room for it.
    if (Status room = RoomFor(1); !room.ok()) return SendError(ref, "submit", room);
    if (ctx_.rate_limiter != nullptr && !principal_.key_id.empty()) {
      int wait_s = ctx_.rate_limiter->Take(principal_.key_id, std::chrono::steady_clock::now());
      if (wait_s > 0) {
        ++ctx_.metrics.rate_limited;
        return SendError(ref, "submit",
                         ResourceExhaustedError("rate limit of this API key exceeded"), "", wait_s);
      }
    }
    ++submitting_;
    // Submit returns once the task is durable: off the I/O thread (blocking_calls.h), answered
    // on the strand.
    std::weak_ptr<TaskSocket> weak = weak_from_this();
    ctx_.blocking_calls->Run([weak, channel = channel_, ctx = &ctx_, principal = principal_,
                              body = json::serialize(*request), key = std::move(key),
                              ref]() mutable {
      auto submitted = std::make_shared<Result<EnqueueResult>>(
          SubmitTask(*ctx, principal, body, std::move(key)));
      channel->Post([weak, submitted, ref] {
        if (auto self = weak.lock()) self->Submitted(*submitted, ref);
      });
    });
  }

  // The answer to a submit message, on the strand.
  void Submitted(const Result<EnqueueResult>& submitted, const json::value& ref) {
    --submitting_;
    if (closed_) return;
    if (!submitted.ok()) {
      Status s = submitted.status();
      // The request's fields sit under "request" in this message.
      std::vector<FieldError> errors;
      for (const FieldError& e : s.field_errors()) {
        errors.push_back({"request." + e.field, e.message});
      }
      return SendError(ref, "submit", Status(s.code(), s.message(), std::move(errors)), "",
                       RetryAfterS(ctx_, s));
    }
    const Task& task = submitted->task;
    json::object ack{{"type", "submitted"}, {"task", TaskToJson(task, TaskEta(ctx_, task))}};
    if (!ref.is_null()) ack["ref"] = ref;
    Send(ack);
    if (Status s = SubscribeTask(task.id, 0); !s.ok()) SendError(ref, "submit", s, task.id);
  }

  Status SubscribeTask(const std::string& id, int64_t after_seq) {
    if (subs_.count(id) > 0) return Status::Ok();
    RETURN_IF_ERROR(RoomFor(1));
    RETURN_IF_ERROR(CheckTaskId(id));
    Result<std::unique_ptr<stipple::Subscription>> sub =
        ctx_.service.Subscribe(HandlerContext::ViewTenant(principal_), id, after_seq, EventSink());
    if (!sub.ok()) return sub.status();
    subs_[id] = std::move(sub).value();
    ++ctx_.metrics.ws_subscriptions;
    return Status::Ok();
  }

  void SubscribeFeed() {
    feed_ = ctx_.service.SubscribeAll(HandlerContext::ViewTenant(principal_), EventSink());
    ++ctx_.metrics.ws_subscriptions;
  }

  // A subscription's callback: runs on the service's thread, so it only posts to the strand,
  // holding the session weakly (the service never ends up owning it).
  std::function<void(const TaskEvent&)> EventSink() {
    std::weak_ptr<TaskSocket> weak = weak_from_this();
    std::shared_ptr<WebSocketChannel> channel = channel_;
    return [weak, channel](const TaskEvent& event) {
      channel->Post([weak, event] {
        if (auto s = weak.lock()) s->Deliver(event);
      });
    };
  }

  // An event from a task subscription or the feed. A task can be followed by both; each event
  // goes out once, in seq order.
  void Deliver(const TaskEvent& event) {
    if (closed_) return;
    auto [it, fresh] = last_seq_.try_emplace(event.task_id, 0);
    if (!fresh && event.seq <= it->second) return;
    it->second = event.seq;
    channel_->Send(WriteJson(TaskEventToJson(event)));
    if (!IsTerminalEvent(event.type)) return;
    if (subs_.erase(event.task_id) > 0) --ctx_.metrics.ws_subscriptions;
    // Remember the end for a while, so the feed's copy of it is dropped too.
    ended_.push_back(event.task_id);
    if (ended_.size() > kRememberedEndedTasks) {
      last_seq_.erase(ended_.front());
      ended_.pop_front();
    }
  }

  void Send(const json::object& frame) { channel_->Send(WriteJson(frame)); }

  // {"type": "error", "op", "ref", "task_id", "code", "status", "message", "errors",
  //  "retry_after_s"}: code and status are what the HTTP API would answer (problem type and
  // status). The socket stays open.
  void SendError(const json::value& ref, const std::string& op, const Status& status,
                 const std::string& task_id = "", std::optional<int> retry_after_s = {}) {
    Problem p = ProblemFromStatus(status, retry_after_s.value_or(ctx_.options.retry_after_s));
    json::object frame{{"type", "error"},
                       {"code", p.type},
                       {"status", p.status},
                       {"message", p.detail.empty() ? p.title : p.detail}};
    if (!op.empty()) frame["op"] = op;
    if (!ref.is_null()) frame["ref"] = ref;
    if (!task_id.empty()) frame["task_id"] = task_id;
    if (!p.errors.empty()) {
      json::array errors;
      for (const FieldError& e : p.errors) {
        errors.push_back(json::object{{"field", e.field}, {"message", e.message}});
      }
      frame["errors"] = std::move(errors);
    }
    if (p.retry_after_s) frame["retry_after_s"] = *p.retry_after_s;
    Send(frame);
  }

  HandlerContext& ctx_;
  const Principal principal_;
  std::shared_ptr<WebSocketChannel> channel_;
  std::unordered_map<std::string, std::unique_ptr<stipple::Subscription>> subs_;
  std::unique_ptr<stipple::Subscription> feed_;
  std::unordered_map<std::string, int64_t> last_seq_;  // the last seq sent, per task
  std::deque<std::string> ended_;
  HeldRequests::Slot slot_;
  size_t submitting_ = 0;  // submits sent to the service, not answered yet
  bool closed_ = false;
};

void OpenWebSocket(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange) {
  HttpHeaders headers;
  std::vector<std::string> offers = OfferedProtocols(request.headers.Get("Sec-WebSocket-Protocol"));
  if (!offers.empty()) {
    if (std::find(offers.begin(), offers.end(), kSubprotocol) == offers.end()) {
      return exchange->Respond(
          BadField("Sec-WebSocket-Protocol",
                   std::string("must offer ") + kSubprotocol + " (and may carry bearer.KEY)"));
    }
    headers.Set("Sec-WebSocket-Protocol", kSubprotocol);  // never the bearer offer
  }
  // Refused before the handshake past the bound of open streams.
  Result<HeldRequests::Slot> slot = HoldStream(ctx, request);
  if (!slot.ok()) return exchange->Respond(ErrorResponse(slot.status(), ctx.options.retry_after_s));
  HandlerContext* c = &ctx;
  Principal principal = request.principal;
  LogInfo("websocket opening", {{"tenant", principal.tenant}});
  exchange->AcceptWebSocket(std::move(headers), [c, principal, slot = std::move(slot).value()](
                                                    std::shared_ptr<WebSocketChannel> channel) {
    return std::make_shared<TaskSocket>(*c, principal, std::move(channel), slot);
  });
}

}  // namespace

void AddWebSocketRoutes(RouteTable& t, HandlerContext& ctx) {
  t.Add({"GET",
         "/v1/ws",
         "openWebSocket",
         "Task events and submissions over a WebSocket (JSON text frames; docs/http.md)",
         "events",
         true,
         {},
         {{"Sec-WebSocket-Protocol", "string",
           "stipple.v1, and for clients that cannot set Authorization: bearer.KEY"}},
         "",
         {{101, "Switching Protocols: the WebSocket is open", "", ""},
          {400, "Bad Sec-WebSocket-Protocol", "application/problem+json", "Problem"},
          {401, "Missing or unknown API key", "application/problem+json", "Problem"},
          {426, "Not a WebSocket upgrade", "application/problem+json", "Problem"},
          {429, "Too many event streams open for this tenant or client address",
           "application/problem+json", "Problem"}},
         [&ctx](HttpRequest& request, ExchangePtr exchange) {
           OpenWebSocket(ctx, request, std::move(exchange));
         }});
}

std::vector<std::string> OfferedProtocols(std::optional<std::string_view> header) {
  std::vector<std::string> offers;
  if (!header) return offers;
  std::string_view rest = *header;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) offers.emplace_back(item);
  }
  return offers;
}

}  // namespace stipple::http
