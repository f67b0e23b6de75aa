#include "webhook/dispatcher.h"

#include <curl/curl.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include "common/log.h"
#include "common/thread_annotations.h"
#include "webhook/url_guard.h"

namespace stipple::webhook {

std::vector<Millis> DefaultRetrySchedule() {
  using std::chrono::hours;
  using std::chrono::minutes;
  using std::chrono::seconds;
  return {seconds(5), minutes(5), minutes(30), hours(2), hours(5), hours(10), hours(10)};
}

std::optional<Millis> RetryDelay(const std::vector<Millis>& schedule, double jitter, size_t retry,
                                 double u) {
  if (retry >= schedule.size()) return std::nullopt;
  const double factor = 1 - jitter + 2 * jitter * u;
  return Millis(static_cast<int64_t>(static_cast<double>(schedule[retry].count()) * factor));
}

Result<std::vector<Millis>> ParseRetrySchedule(std::string_view text) {
  std::vector<Millis> out;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    std::string item(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    double s = -1;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), s);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size() || s < 0 ||
        s > 7 * 86400) {
      return InvalidArgumentError("a retry schedule is comma-separated seconds, each 0..604800");
    }
    out.push_back(Millis(static_cast<int64_t>(s * 1000)));
  }
  return out;
}

namespace {

// One attempt in flight.
struct Attempt {
  WebhookDelivery delivery;
  std::string body;
  curl_slist* headers = nullptr;
  Timestamp started;
  std::string forbidden;  // the address the guard refused, if it did
  bool allow_private = false;
  char error[CURL_ERROR_SIZE] = {0};
};

size_t DiscardBody(char*, size_t size, size_t n, void*) { return size * n; }

// The connect-time guard: curl asks for a socket for each address it is about to connect to.
curl_socket_t OpenSocket(void* clientp, curlsocktype, curl_sockaddr* address) {
  auto* attempt = static_cast<Attempt*>(clientp);
  if (!attempt->allow_private && IsForbiddenAddress(&address->addr)) {
    attempt->forbidden = AddressText(&address->addr);
    return CURL_SOCKET_BAD;
  }
  return ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

}  // namespace

class WebhookDispatcher::Loop {
 public:
  Loop(WebhookOutbox& outbox, WebhookDispatcherOptions options)
      : outbox_(outbox), options_(std::move(options)), rng_(std::random_device{}()) {
    multi_ = curl_multi_init();
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, static_cast<long>(options_.max_concurrency));
    for (const std::string& entry : options_.test_resolve) {
      test_resolve_ = curl_slist_append(test_resolve_, entry.c_str());
    }
  }
  ~Loop() {
    for (auto& [easy, attempt] : in_flight_) {
      curl_multi_remove_handle(multi_, easy);
      curl_easy_cleanup(easy);
      curl_slist_free_all(attempt->headers);
    }
    curl_multi_cleanup(multi_);
    curl_slist_free_all(test_resolve_);
  }

  void Wake() {
    woken_ = true;
    curl_multi_wakeup(multi_);
  }
  void RequestStop() {
    stopping_ = true;
    curl_multi_wakeup(multi_);
  }

  void Run() {
    outbox_.SetWakeup([this] { Wake(); });
    Timestamp next_claim = options_.clock->Now();
    while (!stopping_) {
      const Timestamp now = options_.clock->Now();
      const int free_slots = options_.max_concurrency - static_cast<int>(in_flight_.size()) -
                             static_cast<int>(waiting_count_);
      if (free_slots > 0 && (woken_.exchange(false) || now >= next_claim)) {
        const int claimed = ClaimAndStart(now, free_slots);
        // A full claim may have left more due: claim again at once. Otherwise whatever is due
        // now waits for a busy host, so the next claim comes with a finished attempt, a wakeup,
        // the earliest retry still ahead or the poll interval, whichever is first.
        next_claim = now + options_.poll_interval;
        if (claimed == free_slots) {
          next_claim = now;
        } else if (Result<std::optional<Timestamp>> due = outbox_.NextDue();
                   due.ok() && *due && **due > now) {
          next_claim = std::min(next_claim, **due);
        }
      }
      int running = 0;
      curl_multi_perform(multi_, &running);
      Collect();
      if (!outcomes_.empty()) {
        if (Status s = outbox_.Record(outcomes_); !s.ok()) {
          LogWarn("webhook outcomes not recorded", {{"error", s.ToString()}});
        }
        outcomes_.clear();
        // A claim can now find more only if it was cut short by the limit or a host that was
        // busy then has room now (claims that find nothing would scan the whole backlog).
        if (host_freed_ || last_claim_full_) next_claim = options_.clock->Now();
        host_freed_ = false;
        continue;
      }
      const bool can_claim = options_.max_concurrency - static_cast<int>(in_flight_.size()) -
                                 static_cast<int>(waiting_count_) >
                             0;
      const auto wait = std::chrono::duration_cast<Millis>(next_claim - options_.clock->Now());
      // With no free slot, only curl's sockets (or a stop) can change anything.
      const int timeout_ms =
          can_claim ? static_cast<int>(std::clamp<int64_t>(wait.count(), 0, 1000)) : 1000;
      if (timeout_ms > 0 && !woken_) curl_multi_poll(multi_, nullptr, 0, timeout_ms, nullptr);
    }
    outbox_.SetWakeup(nullptr);
  }

  WebhookDispatcherStats stats() const {
    MutexLock lock(stats_mu_);
    return stats_;
  }

 private:
  int ClaimAndStart(Timestamp now, int limit) {
    std::vector<std::string> busy;
    for (const auto& [host, n] : per_host_) {
      if (n >= options_.max_per_host) busy.push_back(host);
    }
    busy_at_claim_ = std::set<std::string>(busy.begin(), busy.end());
    Result<std::vector<WebhookDelivery>> claimed = outbox_.Claim(now, limit, busy);
    if (!claimed.ok()) {
      LogWarn("webhook outbox claim failed", {{"error", claimed.status().ToString()}});
      return 0;
    }
    for (WebhookDelivery& d : *claimed) {
      waiting_[d.host].push_back(std::move(d));
      ++waiting_count_;
    }
    StartWaiting();
    last_claim_full_ = static_cast<int>(claimed->size()) == limit;
    return static_cast<int>(claimed->size());
  }

  void StartWaiting() {
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      auto& queue = it->second;
      while (!queue.empty() && per_host_[it->first] < options_.max_per_host) {
        Start(std::move(queue.front()));
        queue.pop_front();
        --waiting_count_;
      }
      it = queue.empty() ? waiting_.erase(it) : std::next(it);
    }
  }

  void Start(WebhookDelivery d) {
    auto attempt = std::make_unique<Attempt>();
    attempt->started = options_.clock->Now();
    attempt->allow_private = options_.allow_private;
    const int64_t ts = ToUnixMillis(attempt->started) / 1000;
    const std::string signature = Sign(options_.secrets, d.id, ts, d.payload);
    for (const std::string& h :
         {std::string("Content-Type: application/json"), "webhook-id: " + d.id,
          "webhook-timestamp: " + std::to_string(ts), "webhook-signature: " + signature,
          std::string("User-Agent: stipple-webhooks"), std::string("Expect:")}) {
      attempt->headers = curl_slist_append(attempt->headers, h.c_str());
    }
    attempt->delivery = std::move(d);
    CURL* easy = curl_easy_init();
    curl_easy_setopt(easy, CURLOPT_URL, attempt->delivery.url.c_str());
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, attempt->headers);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, attempt->delivery.payload.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(attempt->delivery.payload.size()));
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &DiscardBody);
    if (test_resolve_ != nullptr) curl_easy_setopt(easy, CURLOPT_RESOLVE, test_resolve_);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, &OpenSocket);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, attempt.get());
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, attempt->error);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, attempt.get());
    ++per_host_[attempt->delivery.host];
    curl_multi_add_handle(multi_, easy);
    in_flight_.emplace(easy, std::move(attempt));
  }

  void Collect() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      auto it = in_flight_.find(easy);
      if (it == in_flight_.end()) continue;
      std::unique_ptr<Attempt> attempt = std::move(it->second);
      in_flight_.erase(it);
      long status = 0;
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
      Finish(*attempt, msg->data.result, static_cast<int>(status));
      curl_multi_remove_handle(multi_, easy);
      curl_easy_cleanup(easy);
      curl_slist_free_all(attempt->headers);
      if (--per_host_[attempt->delivery.host] <= 0) per_host_.erase(attempt->delivery.host);
    }
    StartWaiting();
    for (auto it = busy_at_claim_.begin(); it != busy_at_claim_.end();) {
      auto n = per_host_.find(*it);
      if ((n == per_host_.end() || n->second < options_.max_per_host) && !waiting_.count(*it)) {
        host_freed_ = true;
        it = busy_at_claim_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void Finish(const Attempt& attempt, CURLcode result, int status) {
    const Timestamp now = options_.clock->Now();
    DeliveryOutcome o;
    o.delivery_id = attempt.delivery.id;
    o.task_id = attempt.delivery.task_id;
    o.event = attempt.delivery.event;
    o.attempt.number = attempt.delivery.attempts + 1;
    o.attempt.at = attempt.started;
    o.attempt.duration = std::chrono::duration_cast<Millis>(now - attempt.started);
    const bool answered = result == CURLE_OK;
    o.attempt.response_status = answered ? status : 0;
    bool final_failure = false;
    if (answered && status >= 200 && status < 300) {
      o.state = DeliveryState::kDelivered;
    } else {
      if (!attempt.forbidden.empty()) {
        o.attempt.error = "refused: " + attempt.forbidden +
                          " is a private, loopback or metadata address (--webhook-allow-private)";
        final_failure = true;
      } else if (answered) {
        o.attempt.error = "HTTP " + std::to_string(status);
        if (status == 410) {
          o.gone = true;
          final_failure = true;
        }
      } else if (result == CURLE_OPERATION_TIMEDOUT) {
        o.attempt.error = "timeout after " + std::to_string(options_.timeout.count()) + " ms";
      } else {
        o.attempt.error = attempt.error[0] ? attempt.error : curl_easy_strerror(result);
      }
      const size_t retry = static_cast<size_t>(attempt.delivery.attempts);
      if (final_failure || retry >= options_.retry_schedule.size()) {
        o.state = DeliveryState::kFailed;
      } else {
        o.state = DeliveryState::kPending;
        std::uniform_real_distribution<double> u(0.0, 1.0);
        o.next_attempt_at =
            now + *RetryDelay(options_.retry_schedule, options_.jitter, retry, u(rng_));
      }
    }
    {
      MutexLock lock(stats_mu_);
      if (o.state == DeliveryState::kDelivered) {
        ++stats_.delivered;
      } else {
        ++stats_.failed_attempts;
        if (o.state == DeliveryState::kFailed) ++stats_.failed;
      }
    }
    if (options_.count_outcome) {
      options_.count_outcome(o.state == DeliveryState::kDelivered ? "delivered"
                             : o.state == DeliveryState::kFailed  ? "gave_up"
                                                                  : "failed");
    }
    if (o.state != DeliveryState::kDelivered) {
      LogInfo("webhook attempt failed",
              {{"webhook_id", o.delivery_id},
               {"task_id", attempt.delivery.task_id},
               {"error", o.attempt.error},
               {"final", o.state == DeliveryState::kFailed ? "yes" : "no"}});
    }
    outcomes_.push_back(std::move(o));
  }

  WebhookOutbox& outbox_;
  const WebhookDispatcherOptions options_;
  std::mt19937_64 rng_;
  curl_slist* test_resolve_ = nullptr;  // options_.test_resolve for CURLOPT_RESOLVE
  CURLM* multi_ = nullptr;
  std::atomic<bool> woken_{true};
  std::atomic<bool> stopping_{false};
  // Loop thread only.
  std::map<CURL*, std::unique_ptr<Attempt>> in_flight_;
  std::map<std::string, int> per_host_;                         // in flight per host
  std::map<std::string, std::deque<WebhookDelivery>> waiting_;  // claimed, host at its limit
  size_t waiting_count_ = 0;
  std::set<std::string> busy_at_claim_;  // hosts the last claim skipped
  bool host_freed_ = false;              // one of them has room again
  bool last_claim_full_ = false;         // the last claim returned as many as it asked for
  std::vector<DeliveryOutcome> outcomes_;
  // Written by the loop thread, read by stats() from any thread.
  mutable Mutex stats_mu_;
  WebhookDispatcherStats stats_ GUARDED_BY(stats_mu_);
};

WebhookDispatcher::WebhookDispatcher(WebhookOutbox& outbox, WebhookDispatcherOptions options)
    : loop_(std::make_unique<Loop>(outbox, std::move(options))) {}

WebhookDispatcher::~WebhookDispatcher() { Stop(); }

Status WebhookDispatcher::Start() {
  static std::once_flag curl_init;
  std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (thread_.joinable()) return FailedPreconditionError("the webhook dispatcher is running");
  thread_ = std::thread([this] { loop_->Run(); });
  return Status::Ok();
}

void WebhookDispatcher::Stop() {
  if (!thread_.joinable()) return;
  loop_->RequestStop();
  thread_.join();
}

WebhookDispatcherStats WebhookDispatcher::stats() const { return loop_->stats(); }

}  // namespace stipple::webhook
