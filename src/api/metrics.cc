#include "api/metrics.h"

#include <cstdio>

#include "core/task_state.h"

namespace stipple::http {
namespace {

void Family(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

std::string Number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// One sample: name{labels} value.
void Sample(std::string& out, const char* name, const std::string& labels,
            const std::string& value) {
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += ' ';
  out += value;
  out += '\n';
}

std::string Label(const char* name, const std::string& value) {
  return std::string(name) + "=\"" + EscapeLabel(value) + "\"";
}

void Histogram(std::string& out, const std::string& name, const char* help,
               const DurationHistogram& h) {
  Family(out, name.c_str(), "histogram", help);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < DurationHistogram::kBounds.size(); ++i) {
    cumulative += h.buckets[i];
    char le[32];
    std::snprintf(le, sizeof le, "%g", DurationHistogram::kBounds[i]);
    Sample(out, (name + "_bucket").c_str(), Label("le", le), std::to_string(cumulative));
  }
  Sample(out, (name + "_bucket").c_str(), Label("le", "+Inf"), std::to_string(h.count));
  Sample(out, (name + "_sum").c_str(), "", Number(h.sum));
  Sample(out, (name + "_count").c_str(), "", std::to_string(h.count));
}

void RenderService(std::string& out, const QueueSnapshot& snapshot, const QueueFigures& queue) {
  Family(out, "stipple_queue_depth", "gauge", "Queued tasks by model and priority.");
  for (const ModelQueueFigures& m : queue.models) {
    for (int p = 0; p < 3; ++p) {
      Sample(out, "stipple_queue_depth",
             Label("model", m.model) + "," +
                 Label("priority", std::string(PriorityName(static_cast<Priority>(p)))),
             std::to_string(m.queued[p]));
    }
  }
  Family(out, "stipple_tasks_running", "gauge", "Running tasks by model.");
  for (const ModelQueueFigures& m : queue.models) {
    Sample(out, "stipple_tasks_running", Label("model", m.model), std::to_string(m.running));
  }
  Family(out, "stipple_queue_oldest_age_seconds", "gauge",
         "Age of the oldest queued task by model (0 when none).");
  for (const ModelQueueFigures& m : queue.models) {
    Sample(out, "stipple_queue_oldest_age_seconds", Label("model", m.model),
           Number(m.oldest_queued_age_s.value_or(0)));
  }

  // Workers by state; an implementation that lists no workers gives only the counts.
  int64_t by_state[4] = {0, 0, 0, 0};  // WorkerState (the registry holds no kStopped)
  if (snapshot.workers.empty()) {
    by_state[static_cast<int>(WorkerState::kBusy)] = queue.workers_busy;
    by_state[static_cast<int>(WorkerState::kIdle)] = queue.workers_online - queue.workers_busy;
  }
  for (const WorkerStatus& w : snapshot.workers) ++by_state[static_cast<int>(w.state)];
  Family(out, "stipple_workers", "gauge", "Registered workers by state.");
  for (WorkerState s : {WorkerState::kIdle, WorkerState::kBusy, WorkerState::kDraining}) {
    Sample(out, "stipple_workers", Label("state", std::string(WorkerStateName(s))),
           std::to_string(by_state[static_cast<int>(s)]));
  }
  Family(out, "stipple_throughput_per_minute", "gauge", "Tasks finished per minute, recently.");
  Sample(out, "stipple_throughput_per_minute", "", Number(queue.throughput_per_min));
  Family(out, "stipple_desired_workers", "gauge", "Workers the backlog calls for (docs/http.md).");
  Sample(out, "stipple_desired_workers", "", std::to_string(queue.desired_workers));

  const TaskTotals& totals = snapshot.totals;
  Family(out, "stipple_tasks_submitted_total", "counter", "Tasks created by this process.");
  Sample(out, "stipple_tasks_submitted_total", "", std::to_string(totals.submitted));
  Family(out, "stipple_tasks_ended_total", "counter",
         "Tasks that reached a final status, by status.");
  for (TaskState s :
       {TaskState::kSucceeded, TaskState::kFailed, TaskState::kCanceled, TaskState::kExpired}) {
    auto it = totals.ended.find(s);
    Sample(out, "stipple_tasks_ended_total", Label("status", std::string(TaskStateName(s))),
           std::to_string(it == totals.ended.end() ? 0 : it->second));
  }
  Histogram(out, "stipple_task_queue_wait_seconds",
            "Time from creation to first start, of tasks that ended after starting.",
            totals.queue_wait);
  Histogram(out, "stipple_task_run_seconds",
            "Time from first start to the end, of tasks that ended after starting.", totals.run);
  Histogram(out, "stipple_task_end_to_end_seconds",
            "Time from creation to the end, of every task that ended.", totals.end_to_end);
}

}  // namespace

std::string EscapeLabel(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

HttpMetrics::HttpMetrics() {
  for (const char* result : {"delivered", "failed", "gave_up"}) webhook_deliveries_[result] = 0;
}

void HttpMetrics::CountWebhookDelivery(std::string_view result) {
  MutexLock lock(mu_);
  auto it = webhook_deliveries_.find(result);
  if (it == webhook_deliveries_.end()) it = webhook_deliveries_.emplace(result, 0).first;
  ++it->second;
}

std::function<void(std::string_view)> HttpMetrics::WebhookDeliveryCounter() {
  return [this](std::string_view result) { CountWebhookDelivery(result); };
}

std::string HttpMetrics::Render(const QueueSnapshot* snapshot, const QueueFigures* figures) const {
  std::string out;
  Family(out, "stipple_http_requests_total", "counter",
         "HTTP requests answered, by route and code.");
  for (const auto& [key, count] : request_counts()) {
    const auto& [route, method, status] = key;
    Sample(out, "stipple_http_requests_total",
           Label("route", route) + "," + Label("method", method) + "," +
               Label("code", std::to_string(status)),
           std::to_string(count));
  }
  Family(out, "stipple_http_sync_waiters", "gauge", "Requests waiting for a task (Prefer: wait).");
  Sample(out, "stipple_http_sync_waiters", "", std::to_string(sync_waiters.load()));
  Family(out, "stipple_http_sse_subscribers", "gauge", "Open Server-Sent Events streams.");
  Sample(out, "stipple_http_sse_subscribers", "", std::to_string(sse_subscribers.load()));
  Family(out, "stipple_http_ws_connections", "gauge", "Open WebSockets (/v1/ws).");
  Sample(out, "stipple_http_ws_connections", "", std::to_string(ws_connections.load()));
  Family(out, "stipple_http_ws_subscribers", "gauge",
         "Subscriptions held by open WebSockets (one per task, one per tenant feed).");
  Sample(out, "stipple_http_ws_subscribers", "", std::to_string(ws_subscriptions.load()));
  Family(out, "stipple_http_rate_limited_total", "counter", "Requests refused by the rate limit.");
  Sample(out, "stipple_http_rate_limited_total", "", std::to_string(rate_limited.load()));
  Family(out, "stipple_http_connections", "gauge", "Open HTTP connections (WebSockets included).");
  Sample(out, "stipple_http_connections", "", std::to_string(connections.load()));
  Family(out, "stipple_http_connections_refused_total", "counter",
         "Connections answered 503 and closed at the connection cap (--max-connections).");
  Sample(out, "stipple_http_connections_refused_total", "",
         std::to_string(connections_refused.load()));
  Family(out, "stipple_http_accept_errors_total", "counter",
         "Failed accepts (mostly the descriptor limit); each one backs the acceptor off.");
  Sample(out, "stipple_http_accept_errors_total", "", std::to_string(accept_errors.load()));
  Family(out, "stipple_http_held_refused_total", "counter",
         "Requests with Prefer: wait answered 429 at the bound of held requests.");
  Sample(out, "stipple_http_held_refused_total", "", std::to_string(held_refused.load()));
  Family(out, "stipple_http_streams_refused_total", "counter",
         "Event streams (SSE, WebSocket upgrades) answered 429 at the bound of open streams.");
  Sample(out, "stipple_http_streams_refused_total", "", std::to_string(streams_refused.load()));
  Family(out, "stipple_webhook_deliveries_total", "counter",
         "Webhook delivery attempts, by result.");
  {
    MutexLock lock(mu_);
    for (const auto& [result, count] : webhook_deliveries_) {
      Sample(out, "stipple_webhook_deliveries_total", Label("result", result),
             std::to_string(count));
    }
  }
  if (snapshot != nullptr && figures != nullptr) RenderService(out, *snapshot, *figures);
  return out;
}

}  // namespace stipple::http
