#include "chaos_run.h"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "client/client.h"
#include "core/task_state.h"

namespace stipple::chaos {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::chrono::seconds kReplayLimit{10};

milliseconds Uniform(std::mt19937_64& rng, milliseconds lo, milliseconds hi) {
  if (hi <= lo) return lo;
  return milliseconds(std::uniform_int_distribution<int64_t>(lo.count(), hi.count())(rng));
}

std::string Seconds(Clock::time_point start) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s",
                std::chrono::duration<double>(Clock::now() - start).count());
  return text;
}

// Kills and restarts processes until `end`; the faults go into the report.
void Inject(Deployment& deployment, const ChaosOptions& options, Clock::time_point start,
            Clock::time_point end, ChaosReport& report) {
  std::mt19937_64 rng(options.seed);
  for (;;) {
    const Clock::time_point next = Clock::now() + Uniform(rng, options.min_gap, options.max_gap);
    const uint64_t pick = rng();
    const milliseconds down = Uniform(rng, milliseconds(0), options.max_down);
    if (next >= end) return;
    std::this_thread::sleep_until(next);
    std::vector<std::string> targets = deployment.Targets();
    if (targets.empty()) continue;
    const std::string target = targets[pick % targets.size()];
    const std::string killed = deployment.Kill(target, pick / targets.size());
    std::this_thread::sleep_for(down);
    Status restarted = deployment.Restart(target);
    ++report.faults[target];
    report.log.push_back(Seconds(start) + " kill " + killed + ", down " +
                         std::to_string(down.count()) + " ms");
    if (!restarted.ok()) {
      report.violations.push_back({"restart-failed", target + ": " + restarted.ToString()});
      return;  // the rest of the run would measure a broken deployment
    }
  }
}

// Every task of the load that the live deployment says ended, its events replayed from seq 0
// (four threads).
EventsView ReplayEvents(client::Client& client, const loadgen::LoadRun& run) {
  std::vector<std::string> ids;
  for (const loadgen::RequestRecord& r : run.requests) {
    if (r.acknowledged) ids.push_back(r.task_id);
  }
  EventsView view;
  std::mutex mu;
  std::atomic<size_t> next{0};
  auto replay = [&] {
    for (size_t k = next++; k < ids.size(); k = next++) {
      const std::string& id = ids[k];
      Result<client::TaskSnapshot> task = client.Get(id);
      if (!task.ok() || !IsTerminal(task->task.state)) continue;  // the store view tells
      std::vector<TaskEvent> events;
      // An ended task's replay is immediate: one that does not reach the end in time never will.
      std::stop_source give_up;
      std::jthread timer([&give_up](std::stop_token done) {
        std::mutex m;
        std::condition_variable_any cv;
        std::unique_lock<std::mutex> lock(m);
        cv.wait_for(lock, done, kReplayLimit, [] { return false; });
        if (!done.stop_requested()) give_up.request_stop();
      });
      Status s = client.StreamEvents(
          id, 0,
          [&](const client::EventSnapshot& e) {
            events.push_back(e.event);
            return true;
          },
          give_up.get_token());
      timer.request_stop();
      timer.join();
      if (give_up.stop_requested()) {
        s = DeadlineExceededError("the stream of an ended task did not reach its end in 10 s");
      }
      std::lock_guard<std::mutex> lock(mu);
      if (s.ok()) {
        view.events[id] = std::move(events);
      } else {
        view.unreadable[id] = s.ToString();
      }
    }
  };
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < 4; ++t) threads.emplace_back(replay);
  }
  return view;
}

// Waits until nothing is queued or running (or `limit` passes), then one more lease period and
// the housekeeper's pass; answers the tasks still running then.
std::vector<std::string> Settle(client::Client& client, int lease_s, milliseconds limit) {
  const Clock::time_point deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    Result<client::QueueFigures> q = client.Queue();
    if (q.ok() && q->queued_high + q->queued_normal + q->queued_low + q->running == 0) break;
    std::this_thread::sleep_for(milliseconds(250));
  }
  std::this_thread::sleep_for(std::chrono::seconds(lease_s + 2));
  std::vector<std::string> running;
  client::ListOptions list{.status = "running", .limit = 100, .cursor = ""};
  do {
    Result<client::TaskPage> page = client.List(list);
    if (!page.ok()) {
      running.push_back("(GET /v1/tasks?status=running: " + page.status().ToString() + ")");
      break;
    }
    for (const client::TaskSnapshot& t : page->tasks) running.push_back(t.task.id);
    list.cursor = page->next_cursor;
  } while (!list.cursor.empty());
  return running;
}

}  // namespace

int ChaosReport::TotalFaults() const {
  int total = 0;
  for (const auto& [target, n] : faults) total += n;
  return total;
}

std::string ChaosReport::Summary(size_t max_violations) const {
  std::string out =
      "seed " + std::to_string(seed) + ", " + std::to_string(TotalFaults()) + " faults (";
  for (const auto& [target, n] : faults) {
    out += (out.back() == '(' ? "" : ", ") + target + " " + std::to_string(n);
  }
  char line[256];
  std::snprintf(line, sizeof line, ") in %.0f s\n", run_s);
  out += line;
  out += "requests " + std::to_string(sent) + ", acknowledged " + std::to_string(acknowledged) +
         ", refused " + std::to_string(refused) + ", seen to end " + std::to_string(seen_ended) +
         ", tasks stored " + std::to_string(stored) + ", cancels " + std::to_string(cancels) +
         ", webhook deliveries " + std::to_string(webhook_deliveries) + "\nended:";
  for (const auto& [state, n] : ended) out += " " + state + " " + std::to_string(n);
  if (!failed_by_code.empty()) {
    out += "\nfailed by code:";
    for (const auto& [code, n] : failed_by_code) out += " " + code + " " + std::to_string(n);
  }
  out += "\nacknowledged, end not seen by the client: " + std::to_string(unseen_ends.size());
  for (size_t i = 0; i < unseen_ends.size() && i < max_violations; ++i) {
    out += "\n  " + unseen_ends[i];
  }
  out += "\nviolations " + std::to_string(violations.size()) + "\n";
  for (size_t i = 0; i < violations.size() && i < max_violations; ++i) {
    out += "  " + violations[i].invariant + ": " + violations[i].detail + "\n";
  }
  return out;
}

namespace {

// One line on an acknowledged task whose end its client never saw: the request, and the store's
// record of the task (when it started and ended, relative to its creation).
std::string UnseenEnd(const loadgen::RequestRecord& r, const StoreView& store) {
  char line[512];
  auto it = store.tasks.find(r.task_id);
  if (it == store.tasks.end()) {
    std::snprintf(line, sizeof line, "%s %s sent %.1f s: not in the store", r.task_id.c_str(),
                  std::string(loadgen::RequestKindName(r.kind)).c_str(), r.intended_s);
    return line;
  }
  const Task& t = it->second;
  auto since_created = [&](const std::optional<Timestamp>& at) {
    return at ? std::chrono::duration<double>(*at - t.created_at).count() : -1.0;
  };
  std::snprintf(line, sizeof line,
                "%s %s sent %.1f s: store %s, started %+.1f s, ended %+.1f s, %d attempts%s%s%s",
                r.task_id.c_str(), std::string(loadgen::RequestKindName(r.kind)).c_str(),
                r.intended_s, std::string(TaskStateName(t.state)).c_str(),
                since_created(t.started_at), since_created(t.completed_at), t.attempts,
                r.cut_off ? ", cut off by the drain" : "",
                r.error.empty() ? "" : ", client: ", r.error.c_str());
  return line;
}

}  // namespace

Result<ChaosReport> RunChaos(Deployment& deployment, const ChaosOptions& options) {
  ChaosReport report;
  report.seed = options.seed;
  loadgen::LoadOptions load = options.load;
  load.server_url = deployment.url();
  client::ClientOptions follow;
  follow.server_url = deployment.url();
  follow.user_agent = "stipple-chaos";
  ASSIGN_OR_RETURN(std::unique_ptr<client::Client> client, client::Client::Create(follow));

  const Clock::time_point start = Clock::now();
  std::optional<Result<loadgen::LoadRun>> loaded;
  {
    std::jthread loader([&] { loaded = loadgen::RunLoad(load); });
    Inject(deployment, options, start, start + load.duration, report);
  }
  if (!loaded->ok()) return loaded->status();
  const loadgen::LoadRun& run = loaded->value();
  const std::vector<std::string> running =
      Settle(*client, deployment.lease_s(), milliseconds(60'000 + 3'000 * deployment.lease_s()));
  const EventsView events = ReplayEvents(*client, run);
  Result<StoreView> store = deployment.Observe(running);
  if (!store.ok()) {
    report.violations.push_back({"store-unreadable", store.status().ToString()});
    store = StoreView{};
  }
  std::vector<Violation> found = CheckInvariants(run, *store, events);
  report.violations.insert(report.violations.end(), found.begin(), found.end());
  report.run_s = std::chrono::duration<double>(Clock::now() - start).count();
  report.sent = static_cast<int64_t>(run.requests.size());
  for (const loadgen::RequestRecord& r : run.requests) {
    report.acknowledged += r.acknowledged ? 1 : 0;
    report.refused += r.acknowledged ? 0 : 1;
    report.seen_ended += r.final_state.empty() ? 0 : 1;
    report.cancels += r.cancel_sent ? 1 : 0;
  }
  report.stored = static_cast<int64_t>(store->tasks.size());
  for (const auto& [id, task] : store->tasks) {
    ++report.ended[std::string(TaskStateName(task.state))];
    if (task.state == TaskState::kFailed) {
      ++report.failed_by_code[task.error ? task.error->code : std::string("(none)")];
    }
  }
  for (const loadgen::RequestRecord& r : run.requests) {
    if (r.acknowledged && r.final_state.empty()) report.unseen_ends.push_back(UnseenEnd(r, *store));
  }
  report.webhook_deliveries = static_cast<int64_t>(run.webhooks.size());
  return report;
}

}  // namespace stipple::chaos
