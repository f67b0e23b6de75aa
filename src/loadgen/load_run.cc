#include "loadgen/load_run.h"

#include <atomic>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>
#include <unordered_map>
#include <utility>

#include "client/client.h"
#include "common/thread_annotations.h"
#include "core/task_state.h"
#include "webhook/webhook_receiver.h"

namespace stipple::loadgen {
namespace {

using Clock = std::chrono::steady_clock;

std::optional<Nanos> Between(const std::optional<Timestamp>& from,
                             const std::optional<Timestamp>& to) {
  if (!from || !to) return std::nullopt;
  return std::chrono::duration_cast<Nanos>(*to - *from);
}

// The state shared by every thread of a run: Go runs on the caller's thread and starts the
// senders, the pollers, the queue sampler, the webhook reader and a thread per sync submit or
// sse follower; each records what it sees under mu_.
class Run {
 public:
  Run(const LoadOptions& options, const LoadPlan& plan, std::vector<RequestKind> kinds,
      std::unique_ptr<client::Client> submit_client, std::unique_ptr<client::Client> follow_client)
      : options_(options),
        plan_(plan),
        submitter_(std::move(submit_client)),
        follower_(std::move(follow_client)),
        start_(Clock::now()) {
    run_.requests.resize(kinds.size());
    for (size_t i = 0; i < kinds.size(); ++i) {
      run_.requests[i].kind = kinds[i];
      run_.requests[i].intended_s =
          std::chrono::duration<double>(plan_.IntendedOffset(int64_t(i))).count();
    }
    poll_lists_.resize(Pollers());
  }

  LoadRun Go() {
    if (options_.mix.Weight(RequestKind::kWebhook) > 0) {
      receiver_ = std::make_unique<webhook::WebhookReceiver>();
    }
    std::vector<std::jthread> threads;
    threads.emplace_back([this](std::stop_token stop) { SampleQueue(stop); });
    for (size_t p = 0; p < Pollers(); ++p) {
      threads.emplace_back([this, p](std::stop_token stop) { Poll(p, stop); });
    }
    if (receiver_) threads.emplace_back([this](std::stop_token stop) { ReadWebhooks(stop); });
    {
      std::vector<std::jthread> senders;
      for (int c = 0; c < options_.connections; ++c) senders.emplace_back([this] { Send(); });
    }
    run_.send_s = Seconds(Clock::now());
    {
      // Every acknowledged task gets `drain` to end, and every sync submit to be answered.
      MutexLock lock(mu_);
      ended_cv_.wait_until(lock.native(), Clock::now() + options_.drain,
                           [this]() REQUIRES(mu_) { return open_ == 0 && syncs_in_flight_ == 0; });
    }
    stop_.request_stop();
    for (std::jthread& t : threads) t.request_stop();
    threads.clear();
    std::map<uint64_t, std::jthread> streams;
    {
      MutexLock lock(mu_);
      streams = std::move(streams_);
    }
    streams.clear();  // joined: their calls see the stop token
    receiver_.reset();
    run_.total_s = Seconds(Clock::now());
    MutexLock lock(mu_);
    return std::move(run_);
  }

 private:
  size_t Pollers() const { return size_t(std::max(1, options_.pollers)); }

  double Seconds(Clock::time_point t) const {
    return std::chrono::duration<double>(t - start_).count();
  }

  std::string Body(size_t i) const {
    boost::json::object body;
    body["prompt"] = "stipple bench";
    body["seed"] = static_cast<int64_t>(i % 4294967296u);
    if (!options_.model.empty()) body["model"] = options_.model;
    if (options_.steps > 0) body["steps"] = options_.steps;
    if (run_.requests[i].kind == RequestKind::kWebhook) {
      boost::json::object hook;
      hook["url"] = "http://" + options_.webhook_host + ":" + std::to_string(receiver_->port()) +
                    "/stipple-bench";
      hook["events"] = boost::json::array{"completed"};
      body["webhook"] = std::move(hook);
    }
    return boost::json::serialize(body);
  }

  void Send() {
    for (;;) {
      const size_t i = next_.fetch_add(1);
      if (i >= run_.requests.size()) return;
      const Clock::time_point due = start_ + plan_.IntendedOffset(int64_t(i));
      std::this_thread::sleep_until(due);
      if (run_.requests[i].kind == RequestKind::kSync) {
        // A sync submit holds its connection until the task ends: on a thread of its own, so
        // that it never delays the senders.
        std::vector<std::jthread> ended;  // joined after the lock is released
        MutexLock lock(mu_);
        ++syncs_in_flight_;
        ended = StartStream([this, i, due](const std::stop_token&) { Submit(i, due); });
        continue;
      }
      Submit(i, due);
    }
  }

  // Sends request i (due at `due`) and records its answer.
  void Submit(size_t i, Clock::time_point due) {
    const RequestKind kind = run_.requests[i].kind;
    client::SubmitOptions submit;
    if (kind == RequestKind::kSync) submit.wait_s = options_.wait_s;
    Result<client::SubmitResult> answer = submitter_->Submit(Body(i), submit, stop_.get_token());
    const Clock::time_point now = Clock::now();
    std::vector<std::jthread> ended;  // joined after the lock is released
    MutexLock lock(mu_);
    if (kind == RequestKind::kSync && --syncs_in_flight_ == 0) ended_cv_.notify_all();
    RequestRecord& r = run_.requests[i];
    r.answer_latency = std::chrono::duration_cast<Nanos>(now - due);
    if (!answer.ok()) {
      r.error = answer.status().ToString();
      r.error_code = answer.status().code();
      r.cut_off = answer.status().code() == StatusCode::kCancelled && stop_.stop_requested();
      return;
    }
    r.acknowledged = true;
    r.task_id = answer->task.task.id;
    ++open_;
    if (answer->finished) {
      Ended(i, answer->task.task, now);
      return;
    }
    {
      switch (kind) {
        case RequestKind::kAsync:
        case RequestKind::kSync:
        case RequestKind::kCancel: poll_lists_[i % poll_lists_.size()].push_back(i); break;
        case RequestKind::kSse:
          ended = StartStream([this, i](const std::stop_token& stop) { Follow(i, stop); });
          break;
        case RequestKind::kWebhook:
          // Its webhook may have come before this answer.
          if (auto early = early_hooks_.find(r.task_id); early != early_hooks_.end()) {
            Ended(i, early->second.first, early->second.second);
          } else {
            by_id_[r.task_id] = i;
          }
          break;
      }
    }
  }

  // Starts `body` on a thread of its own (an sse follower, a sync submit) and hands
  // back the threads that have ended since, to be joined once mu_ is released: a long run keeps
  // only the threads still working, not every one it started.
  std::vector<std::jthread> StartStream(std::function<void(const std::stop_token&)> body)
      REQUIRES(mu_) {
    std::vector<std::jthread> ended;
    for (uint64_t id : ended_streams_) {
      auto node = streams_.extract(id);
      if (!node.empty()) ended.push_back(std::move(node.mapped()));
    }
    ended_streams_.clear();
    const uint64_t id = next_stream_++;
    streams_.emplace(id, std::jthread([this, id, body = std::move(body)](std::stop_token stop) {
                       body(stop);
                       MutexLock lock(mu_);
                       ended_streams_.push_back(id);
                     }));
    return ended;
  }

  // Records the end of request i's task; later reports of the same end are ignored.
  void Ended(size_t i, const Task& task, Clock::time_point seen) REQUIRES(mu_) {
    RequestRecord& r = run_.requests[i];
    if (!r.final_state.empty()) return;
    r.final_state = std::string(TaskStateName(task.state));
    r.queue_wait = Between(task.created_at, task.started_at);
    r.end_to_end = Between(task.created_at, task.completed_at);
    r.seen_end =
        std::chrono::duration_cast<Nanos>(seen - start_ - plan_.IntendedOffset(int64_t(i)));
    if (--open_ == 0 && next_.load() >= run_.requests.size()) ended_cv_.notify_all();
  }

  void Poll(size_t p, const std::stop_token& stop) {
    std::vector<size_t> mine;
    while (!stop.stop_requested()) {
      const Clock::time_point round = Clock::now();
      {
        MutexLock lock(mu_);
        mine.insert(mine.end(), poll_lists_[p].begin(), poll_lists_[p].end());
        poll_lists_[p].clear();
      }
      std::vector<size_t> still;
      for (size_t i : mine) {
        if (stop.stop_requested()) break;
        if (run_.requests[i].kind == RequestKind::kCancel && !run_.requests[i].cancel_sent) {
          // Any answer will do (canceled, cancel requested, already ended); no answer: again
          // next round.
          Result<client::CancelResult> canceled = follower_->Cancel(run_.requests[i].task_id, stop);
          const bool answered = canceled.ok() || canceled.status().code() == StatusCode::kNotFound;
          MutexLock lock(mu_);
          run_.requests[i].cancel_sent = answered;
        }
        Result<client::TaskSnapshot> task = follower_->Get(run_.requests[i].task_id, stop);
        if (task.ok() && IsTerminal(task->task.state)) {
          MutexLock lock(mu_);
          Ended(i, task->task, Clock::now());
        } else {
          still.push_back(i);
        }
      }
      mine = std::move(still);
      std::this_thread::sleep_until(round + options_.poll_interval);
    }
  }

  void Follow(size_t i, const std::stop_token& stop) {
    std::string id;
    {
      MutexLock lock(mu_);
      id = run_.requests[i].task_id;
    }
    int64_t last_seq = 0;
    bool ended = false;
    while (!ended && !stop.stop_requested()) {
      Status streamed = follower_->StreamEvents(
          id, last_seq,
          [&](const client::EventSnapshot& e) {
            last_seq = std::max(last_seq, e.event.seq);
            if (!IsTerminalEvent(e.event.type)) return true;
            ended = true;
            MutexLock lock(mu_);
            if (e.event.task) Ended(i, *e.event.task, Clock::now());
            return false;
          },
          stop);
      // The stream failed (the server is away): open it again a little later.
      if (!ended && !streamed.ok()) {
        MutexLock lock(mu_);
        ended_cv_.wait_for(lock.native(), options_.poll_interval * 5,
                           [&]() REQUIRES(mu_) { return stop.stop_requested(); });
      }
    }
  }

  void ReadWebhooks(const std::stop_token& stop) {
    size_t read = 0;
    while (!stop.stop_requested()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (receiver_->count() == static_cast<int>(read)) continue;
      std::vector<webhook::ReceivedRequest> got = receiver_->requests();
      for (; read < got.size(); ++read) {
        boost::system::error_code ec;
        boost::json::value doc = boost::json::parse(got[read].body, ec);
        const boost::json::object* o = ec ? nullptr : doc.if_object();
        const boost::json::value* data = o ? o->if_contains("data") : nullptr;
        if (data == nullptr || !data->is_object()) continue;
        Result<client::TaskSnapshot> task = client::ParseTaskSnapshot(data->as_object());
        if (!task.ok()) continue;
        MutexLock lock(mu_);
        const boost::json::value* type = o->if_contains("type");
        const auto id_header = got[read].headers.find("webhook-id");
        run_.webhooks.push_back(WebhookDelivery{
            .task_id = task->task.id,
            .webhook_id = id_header == got[read].headers.end() ? "" : id_header->second,
            .event = type != nullptr && type->is_string() ? std::string(type->get_string()) : "",
            .state = std::string(TaskStateName(task->task.state)),
            .at_s = Seconds(got[read].arrived)});
        if (!IsTerminal(task->task.state)) continue;
        auto it = by_id_.find(task->task.id);
        if (it != by_id_.end()) {
          Ended(it->second, task->task, got[read].arrived);
        } else {
          early_hooks_.emplace(task->task.id, std::make_pair(task->task, got[read].arrived));
        }
      }
    }
  }

  void SampleQueue(const std::stop_token& stop) {
    while (!stop.stop_requested()) {
      const Clock::time_point round = Clock::now();
      Result<client::QueueFigures> q = follower_->Queue(stop);
      if (q.ok()) {
        MutexLock lock(mu_);
        run_.queue.push_back(
            QueueSample{.at_s = Seconds(round),
                        .queued = q->queued_high + q->queued_normal + q->queued_low,
                        .running = q->running});
      }
      std::this_thread::sleep_until(round + options_.queue_sample);
    }
  }

  const LoadOptions& options_;
  const LoadPlan& plan_;
  std::unique_ptr<client::Client> submitter_;
  std::unique_ptr<client::Client> follower_;
  const Clock::time_point start_;
  std::unique_ptr<webhook::WebhookReceiver> receiver_;
  std::stop_source stop_;
  std::atomic<size_t> next_{0};

  Mutex mu_;
  std::condition_variable ended_cv_;
  // Its size and each request's kind are set by the constructor and then only read (without
  // mu_); everything else in it is written under mu_ once the run starts. Not GUARDED_BY: the
  // analysis cannot tell those fields apart.
  LoadRun run_;
  int64_t open_ GUARDED_BY(mu_) = 0;                               // acknowledged, end not seen
  int64_t syncs_in_flight_ GUARDED_BY(mu_) = 0;                    // sync submits not answered yet
  std::vector<std::vector<size_t>> poll_lists_ GUARDED_BY(mu_);    // new tasks per poller
  std::unordered_map<std::string, size_t> by_id_ GUARDED_BY(mu_);  // webhook tasks by id
  // Webhooks of tasks whose submit answer had not been read yet.
  std::unordered_map<std::string, std::pair<Task, Clock::time_point>> early_hooks_ GUARDED_BY(mu_);
  // Sse followers and sync submits, by number; moved out under mu_ at the end of the run.
  std::map<uint64_t, std::jthread> streams_ GUARDED_BY(mu_);
  std::vector<uint64_t> ended_streams_ GUARDED_BY(mu_);  // those whose thread ended, to be joined
  uint64_t next_stream_ GUARDED_BY(mu_) = 0;
};

}  // namespace

Status CheckLoadOptions(const LoadOptions& o) {
  if (!(o.rate > 0) || o.rate > 1e6) return InvalidArgumentError("--rate must be in (0, 1e6]");
  if (o.duration <= Nanos(0)) return InvalidArgumentError("--duration must be > 0");
  if (o.rate * std::chrono::duration<double>(o.duration).count() > 1e8) {
    return InvalidArgumentError("--rate × --duration must be at most 1e8 requests");
  }
  if (o.connections < 1 || o.connections > 10'000) {
    return InvalidArgumentError("--connections must be 1..10000");
  }
  if (o.wait_s < 1 || o.wait_s > 300) return InvalidArgumentError("--wait-s must be 1..300");
  if (o.pollers < 1 || o.pollers > 256) return InvalidArgumentError("--pollers must be 1..256");
  if (o.steps < 0 || o.steps > 150) return InvalidArgumentError("--steps must be 0..150");
  if (o.poll_interval <= Nanos(0) || o.queue_sample <= Nanos(0) || o.drain < Nanos(0)) {
    return InvalidArgumentError("--poll-ms and --queue-sample-ms must be > 0, --drain-s >= 0");
  }
  return Status::Ok();
}

Result<LoadRun> RunLoad(const LoadOptions& options) {
  RETURN_IF_ERROR(CheckLoadOptions(options));
  client::ClientOptions submit;
  submit.server_url = options.server_url;
  submit.api_key = options.api_key;
  submit.max_attempts = 1;  // a refused submit is an error, not a hidden retry
  submit.request_timeout = std::chrono::milliseconds(30'000);
  submit.user_agent = "stipple-bench";
  client::ClientOptions follow = submit;
  follow.max_attempts = 3;
  ASSIGN_OR_RETURN(std::unique_ptr<client::Client> submitter, client::Client::Create(submit));
  ASSIGN_OR_RETURN(std::unique_ptr<client::Client> follower, client::Client::Create(follow));
  // Reachable, and the key is good (tried once, like the submits).
  Result<client::QueueFigures> reachable = submitter->Queue();
  if (!reachable.ok()) return reachable.status();
  LoadPlan plan(options.rate, options.duration, options.mix);
  std::vector<RequestKind> kinds(static_cast<size_t>(plan.count()));
  for (RequestKind& k : kinds) k = plan.NextKind();
  Run run(options, plan, std::move(kinds), std::move(submitter), std::move(follower));
  return run.Go();
}

}  // namespace stipple::loadgen
