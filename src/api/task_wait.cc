// What the task handlers share: id checks, Prefer: wait, and waiting for a task's end without
// holding a thread.
#include <strings.h>

#include <charconv>

#include "api/handlers.h"
#include "common/id.h"
#include "common/log.h"
#include "core/json.h"
#include "core/task_json.h"
#include "http/problem.h"

namespace stipple::http {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// One request held open by Prefer: wait. Lives until Finish: the service's callback, the timer
// and the abort hook each hold it, and Finish drops the first two (which breaks the cycles).
class Waiter : public std::enable_shared_from_this<Waiter> {
 public:
  Waiter(HandlerContext& ctx, ExchangePtr exchange,
         std::function<HttpResponse(const std::optional<Task>&)> answer, HeldRequests::Slot slot)
      : ctx_(ctx),
        exchange_(std::move(exchange)),
        answer_(std::move(answer)),
        slot_(std::move(slot)) {
    ++ctx_.metrics.sync_waiters;
  }

  Status Start(const std::string& tenant, const std::string& task_id, int wait_s) {
    std::weak_ptr<Waiter> weak = weak_from_this();
    auto self = shared_from_this();
    // The service calls back on its own thread: hop onto the exchange's strand.
    Result<std::unique_ptr<Subscription>> sub = ctx_.service.WhenTerminal(
        tenant, task_id,
        [self](const Task& task) { self->exchange_->Post([self, task] { self->Finish(task); }); });
    if (!sub.ok()) {
      done_ = true;
      --ctx_.metrics.sync_waiters;
      slot_.reset();
      return sub.status();
    }
    subscription_ = std::move(sub).value();
    timer_ = exchange_->After(std::chrono::seconds(wait_s), [self] { self->Finish(std::nullopt); });
    exchange_->OnAbort([weak] {
      if (auto w = weak.lock()) w->Finish(std::nullopt);
    });
    return Status::Ok();
  }

 private:
  // On the strand.
  void Finish(const std::optional<Task>& task) {
    if (done_) return;
    done_ = true;
    --ctx_.metrics.sync_waiters;
    subscription_.reset();  // its callback may be running on the service's thread; it only posts
    timer_.reset();
    slot_.reset();
    exchange_->Respond(answer_(task));
  }

  HandlerContext& ctx_;
  ExchangePtr exchange_;
  std::function<HttpResponse(const std::optional<Task>&)> answer_;
  std::unique_ptr<Subscription> subscription_;
  std::unique_ptr<TimerHandle> timer_;
  HeldRequests::Slot slot_;
  bool done_ = false;
};

}  // namespace

Status CheckTaskId(const std::string& id) {
  if (!IsValidId(id, "tsk")) return NotFoundError("no such task: " + id);
  return Status::Ok();
}

Result<std::optional<int>> ParsePreferWait(std::optional<std::string_view> header, int default_s,
                                           int max_s) {
  if (!header) return std::optional<int>();
  std::string range = "wait must be wait or wait=N with N between 1 and " + std::to_string(max_s);
  auto bad = [&] { return InvalidArgumentError("Prefer: " + range, {{"Prefer", range}}); };
  std::optional<int> wait;
  std::string_view rest = *header;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view pref = rest.substr(0, comma);
    rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma + 1);
    pref = Trim(pref.substr(0, pref.find(';')));  // parameters of a preference are ignored
    size_t eq = pref.find('=');
    std::string_view name = Trim(pref.substr(0, eq));
    if (name.size() != 4 || strncasecmp(name.data(), "wait", 4) != 0) continue;  // not ours
    if (eq == std::string_view::npos) {
      wait = default_s;
      continue;
    }
    std::string_view value = Trim(pref.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    int n = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (value.empty() || ec != std::errc() || end != value.data() + value.size() || n < 1 ||
        n > max_s) {
      return bad();
    }
    wait = n;
  }
  return wait;
}

Result<HeldRequests::Slot> HoldRequest(HandlerContext& ctx, const HttpRequest& request) {
  Result<HeldRequests::Slot> slot =
      ctx.held.Acquire(request.principal.tenant, request.peer_address);
  if (!slot.ok()) {
    ++ctx.metrics.held_refused;
    LogInfo("held request refused", {{"reason", slot.status().message()}});
  }
  return slot;
}

Result<HeldRequests::Slot> HoldStream(HandlerContext& ctx, const HttpRequest& request) {
  Result<HeldRequests::Slot> slot =
      ctx.streams.Acquire(request.principal.tenant, request.peer_address);
  if (!slot.ok()) {
    ++ctx.metrics.streams_refused;
    LogInfo("event stream refused", {{"reason", slot.status().message()}});
  }
  return slot;
}

void AnswerWhenTerminal(HandlerContext& ctx, ExchangePtr exchange, HeldRequests::Slot slot,
                        const std::string& tenant, const std::string& task_id, int wait_s,
                        std::function<HttpResponse(const std::optional<Task>&)> answer) {
  auto waiter = std::make_shared<Waiter>(ctx, exchange, std::move(answer), std::move(slot));
  Status started = waiter->Start(tenant, task_id, wait_s);
  if (!started.ok()) exchange->Respond(ErrorResponse(started, ctx.options.retry_after_s));
}

HttpResponse TaskResponse(int status, const Task& task, std::optional<double> eta_s) {
  HttpResponse r = JsonResponse(status, WriteJson(TaskToJson(task, eta_s)));
  if (status == 202) r.headers.Set("Location", TaskUrl(task.id));
  return r;
}

}  // namespace stipple::http
