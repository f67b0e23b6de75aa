// /v1/tasks/{id}/events: a task's events as Server-Sent Events.
#include <charconv>

#include "api/handlers.h"
#include "core/json.h"
#include "core/task_event.h"
#include "http/problem.h"

namespace stipple::http {
namespace {

// One open stream. Held by the service's callback, the keep-alive timer and the abort hook;
// End drops the first two, and the stream's place among the open streams (HoldStream).
class EventStream : public std::enable_shared_from_this<EventStream> {
 public:
  EventStream(HandlerContext& ctx, ExchangePtr exchange, HeldRequests::Slot slot)
      : ctx_(ctx), exchange_(std::move(exchange)), slot_(std::move(slot)) {}

  Status Start(const std::string& tenant, const std::string& task_id, int64_t after_seq) {
    auto self = shared_from_this();
    Result<std::unique_ptr<Subscription>> sub =
        ctx_.service.Subscribe(tenant, task_id, after_seq, [self](const TaskEvent& event) {
          self->exchange_->Post([self, event] { self->Send(event); });
        });
    if (!sub.ok()) return sub.status();
    subscription_ = std::move(sub).value();
    ++ctx_.metrics.sse_subscribers;
    HttpResponse head;
    head.headers.Set("Content-Type", "text/event-stream");
    head.headers.Set("Cache-Control", "no-cache");
    head.headers.Set("X-Accel-Buffering", "no");  // proxies must not hold frames back
    exchange_->StartStream(std::move(head));
    ScheduleKeepAlive();
    std::weak_ptr<EventStream> weak = self;
    exchange_->OnAbort([weak] {
      if (auto s = weak.lock()) s->End();
    });
    return Status::Ok();
  }

 private:
  // On the strand, like every method below.
  void Send(const TaskEvent& event) {
    if (ended_) return;
    std::string frame = "event: ";
    frame += TaskEventTypeName(event.type);
    frame += "\nid: " + std::to_string(event.seq) + "\ndata: " + WriteJson(TaskEventToJson(event)) +
             "\n\n";
    exchange_->Write(std::move(frame));
    if (IsTerminalEvent(event.type)) End();
  }

  void ScheduleKeepAlive() {
    std::weak_ptr<EventStream> weak = weak_from_this();
    keepalive_ = exchange_->After(ctx_.options.sse_keepalive, [weak] {
      auto s = weak.lock();
      if (!s || s->ended_) return;
      s->exchange_->Write(": keep-alive\n\n");
      s->ScheduleKeepAlive();
    });
  }

  void End() {
    if (ended_) return;
    ended_ = true;
    --ctx_.metrics.sse_subscribers;
    subscription_.reset();
    keepalive_.reset();
    slot_.reset();
    exchange_->EndStream();
  }

  HandlerContext& ctx_;
  ExchangePtr exchange_;
  HeldRequests::Slot slot_;
  std::unique_ptr<Subscription> subscription_;
  std::unique_ptr<TimerHandle> keepalive_;
  bool ended_ = false;
};

}  // namespace

void StreamEvents(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange) {
  const std::string& id = request.path_params["id"];
  if (Status s = CheckTaskId(id); !s.ok()) return exchange->Respond(ErrorResponse(s));
  int64_t after = 0;
  if (auto last = request.headers.Get("Last-Event-ID")) {
    auto [end, ec] = std::from_chars(last->data(), last->data() + last->size(), after);
    if (last->empty() || ec != std::errc() || end != last->data() + last->size() || after < 0) {
      return exchange->Respond(
          BadField("Last-Event-ID", "must be the id (a non-negative integer) of an event"));
    }
  }
  Result<HeldRequests::Slot> slot = HoldStream(ctx, request);
  if (!slot.ok()) return exchange->Respond(ErrorResponse(slot.status(), ctx.options.retry_after_s));
  auto stream = std::make_shared<EventStream>(ctx, exchange, std::move(slot).value());
  Status started = stream->Start(HandlerContext::ViewTenant(request.principal), id, after);
  if (!started.ok()) exchange->Respond(ErrorResponse(started, ctx.options.retry_after_s));
}

}  // namespace stipple::http
