#include "http/metrics.h"

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

void HttpMetrics::CountRequest(const std::string& route, const std::string& method, int status) {
  std::lock_guard lock(mu_);
  ++requests_[{route, method, status}];
}

std::string HttpMetrics::Render(const QueueFigures* queue) const {
  std::string out;
  Family(out, "stipple_http_requests_total", "counter",
         "HTTP requests answered, by route and code.");
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, count] : requests_) {
      const auto& [route, method, status] = key;
      out += "stipple_http_requests_total{route=\"" + EscapeLabel(route) + "\",method=\"" +
             EscapeLabel(method) + "\",code=\"" + std::to_string(status) + "\"} " +
             std::to_string(count) + "\n";
    }
  }
  Family(out, "stipple_http_sync_waiters", "gauge", "Requests waiting for a task (Prefer: wait).");
  out += "stipple_http_sync_waiters " + std::to_string(sync_waiters.load()) + "\n";
  Family(out, "stipple_http_sse_subscribers", "gauge", "Open Server-Sent Events streams.");
  out += "stipple_http_sse_subscribers " + std::to_string(sse_subscribers.load()) + "\n";
  Family(out, "stipple_http_rate_limited_total", "counter", "Requests refused by the rate limit.");
  out += "stipple_http_rate_limited_total " + std::to_string(rate_limited.load()) + "\n";
  Family(out, "stipple_http_ws_connections", "gauge", "Open WebSockets (/v1/ws).");
  out += "stipple_http_ws_connections " + std::to_string(ws_connections.load()) + "\n";
  Family(out, "stipple_http_ws_subscribers", "gauge",
         "Subscriptions held by open WebSockets (one per task, one per tenant feed).");
  out += "stipple_http_ws_subscribers " + std::to_string(ws_subscriptions.load()) + "\n";
  if (queue == nullptr) return out;

  Family(out, "stipple_queue_depth", "gauge", "Queued tasks by model and priority.");
  for (const ModelQueueFigures& m : queue->models) {
    for (int p = 0; p < 3; ++p) {
      out += "stipple_queue_depth{model=\"" + EscapeLabel(m.model) + "\",priority=\"" +
             std::string(PriorityName(static_cast<Priority>(p))) + "\"} " +
             std::to_string(m.queued[p]) + "\n";
    }
  }
  Family(out, "stipple_tasks_running", "gauge", "Running tasks by model.");
  for (const ModelQueueFigures& m : queue->models) {
    out += "stipple_tasks_running{model=\"" + EscapeLabel(m.model) + "\"} " +
           std::to_string(m.running) + "\n";
  }
  Family(out, "stipple_queue_oldest_age_seconds", "gauge",
         "Age of the oldest queued task by model (0 when none).");
  for (const ModelQueueFigures& m : queue->models) {
    out += "stipple_queue_oldest_age_seconds{model=\"" + EscapeLabel(m.model) + "\"} " +
           Number(m.oldest_queued_age_s.value_or(0)) + "\n";
  }
  Family(out, "stipple_workers", "gauge", "Workers by state.");
  out += "stipple_workers{state=\"online\"} " + std::to_string(queue->workers_online) + "\n";
  out += "stipple_workers{state=\"busy\"} " + std::to_string(queue->workers_busy) + "\n";
  Family(out, "stipple_throughput_per_minute", "gauge", "Tasks finished per minute, recently.");
  out += "stipple_throughput_per_minute " + Number(queue->throughput_per_min) + "\n";
  Family(out, "stipple_desired_workers", "gauge", "Workers the backlog calls for (docs/http.md).");
  out += "stipple_desired_workers " + std::to_string(queue->desired_workers) + "\n";
  return out;
}

}  // namespace stipple::http
